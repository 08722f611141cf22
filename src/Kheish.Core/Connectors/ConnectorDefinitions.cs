using System.Security.Cryptography;
using Kheish.Core.Broker;
using Kheish.Core.Errors;
using Kheish.Core.Secrets;

namespace Kheish.Core.Connectors;

/// <summary>A slot the daemon must write before it saves a definition: an inline secret value.</summary>
internal sealed record InlineSecretWrite(SlotId SlotId, string Value)
{
    public override string ToString() => $"InlineSecretWrite {{ {SlotId}, <redacted> }}";
}

/// <summary>The outcome of checking a written definition: what to store, which slots to write, and a new bearer token.</summary>
internal sealed record BuiltConnector(ConnectorDefinition Definition, IReadOnlyList<InlineSecretWrite> InlineWrites, string? NewBearerToken)
{
    public override string ToString() => $"BuiltConnector {{ {Definition}, {InlineWrites.Count} inline write(s) }}";
}

/// <summary>
/// Turns a <see cref="ConnectorInput"/> into a <see cref="ConnectorDefinition"/>, refusing any
/// field the kind does not take, with a message naming the field (never a value). Pure: the
/// caller writes the inline slots and the file.
/// </summary>
internal static class ConnectorDefinitions
{
    public const int MaxArgs = 64;
    public const int MaxArgLength = 4096;
    public const int MaxEnv = 64;
    public const int MaxSecretValueLength = 64 * 1024;

    /// <summary>Variables a definition may not set: the daemon gives these to the sidecar itself.</summary>
    public const string ReservedPrefix = "KHEISH_";

    public static string InlineSlotId(string name, string key) => $"connectors.{name}.{key}";

    public static Result<BuiltConnector> Build(
        ConnectorKind kind, string name, ConnectorInput input, ConnectorDefinition? existing, Func<SlotId, bool> slotExists, long nowMs)
    {
        if (ConnectorName.CheckName(name) is { } nameError)
        {
            return nameError;
        }

        var inline = new List<InlineSecretWrite>();
        bool external = kind == ConnectorKind.External;
        bool platform = kind is ConnectorKind.Slack or ConnectorKind.Telegram;
        if ((Refuse(kind, "command", input.Command is not null, external) ?? Refuse(kind, "args", input.Args is not null, external)
            ?? Refuse(kind, "cwd", input.Cwd is not null, external) ?? Refuse(kind, "env", input.Env is not null, external)
            ?? Refuse(kind, "env_keys", input.EnvKeys is not null, external) ?? Refuse(kind, "ingress_from", input.IngressFrom is not null, external)
            ?? Refuse(kind, "scope", input.Scope is not null, external)
            ?? Refuse(kind, "signing_secret", input.SigningSecret is not null, kind == ConnectorKind.Slack)
            ?? Refuse(kind, "secret_token", input.SecretToken is not null, kind == ConnectorKind.Telegram)
            ?? Refuse(kind, "bot_token", input.BotToken is not null, platform)
            ?? Refuse(kind, "api_base_url", input.ApiBaseUrl is not null, platform)
            ?? Refuse(kind, "rotate_bearer_token", input.RotateBearerToken is not null, kind == ConnectorKind.Http)) is { } fieldError)
        {
            return fieldError;
        }

        var definition = new ConnectorDefinition { Kind = kind, Name = name, Enabled = input.Enabled ?? true, UpdatedAtMs = nowMs };
        string? bearer = null;
        switch (kind)
        {
            case ConnectorKind.External:
                if (BuildExternal(name, input, existing, slotExists, inline).TryGetValue(out ConnectorDefinition? ext, out KheishError? extError))
                {
                    definition = ext with { Enabled = definition.Enabled, UpdatedAtMs = nowMs };
                    break;
                }

                return extError;
            case ConnectorKind.Http:
                if (existing?.BearerDigest is { } digest && input.RotateBearerToken != true)
                {
                    definition = definition with { BearerDigest = digest };
                }
                else
                {
                    bearer = NewBearerToken();
                    definition = definition with { BearerDigest = BearerDigestOf(bearer) };
                }

                break;
            case ConnectorKind.Slack:
            case ConnectorKind.Telegram:
                string field = kind == ConnectorKind.Slack ? "signing_secret" : "secret_token";
                ConnectorSecretInput? given = kind == ConnectorKind.Slack ? input.SigningSecret : input.SecretToken;
                ConnectorSecret? kept = kind == ConnectorKind.Slack ? existing?.SigningSecret : existing?.SecretToken;
                if (!Secret(name, field, field.ToUpperInvariant(), given, kept, slotExists, inline).TryGetValue(out ConnectorSecret? verify, out KheishError? verifyError))
                {
                    return verifyError;
                }

                if (verify is null)
                {
                    return KheishError.BadRequest("missing_field", $"a {kind.Name()} connector needs `{field}` ({{\"secret_ref\"|\"env\"|\"value\": ...}})");
                }

                if (!Secret(name, "bot_token", "BOT_TOKEN", input.BotToken, existing?.BotToken, slotExists, inline).TryGetValue(out ConnectorSecret? bot, out KheishError? botError))
                {
                    return botError;
                }

                if (input.ApiBaseUrl is { } baseUrl && CheckBaseUrl(baseUrl) is { } urlError)
                {
                    return urlError;
                }

                definition = kind == ConnectorKind.Slack
                    ? definition with { SigningSecret = verify, BotToken = bot, ApiBaseUrl = input.ApiBaseUrl?.TrimEnd('/') }
                    : definition with { SecretToken = verify, BotToken = bot, ApiBaseUrl = input.ApiBaseUrl?.TrimEnd('/') };
                break;
        }

        return new BuiltConnector(definition, inline, bearer);
    }

    /// <summary>256-bit CSPRNG token, base64url without padding, prefixed so it is recognisable in a leak scan.</summary>
    public static string NewBearerToken()
    {
        Span<byte> random = stackalloc byte[32];
        RandomNumberGenerator.Fill(random);
        string token = "kcb_" + Convert.ToBase64String(random).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        CryptographicOperations.ZeroMemory(random);
        return token;
    }

    public static string BearerDigestOf(string token) =>
        Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token)));

    private static Result<ConnectorDefinition> BuildExternal(
        string name, ConnectorInput input, ConnectorDefinition? existing, Func<SlotId, bool> slotExists, List<InlineSecretWrite> inline)
    {
        if (string.IsNullOrWhiteSpace(input.Command))
        {
            return KheishError.BadRequest("missing_field", "an external connector needs `command` (the sidecar executable)");
        }

        if (HasNul(input.Command) || input.Command.Length > MaxArgLength)
        {
            return KheishError.BadRequest("invalid_command", $"`command` must be at most {MaxArgLength} characters without NUL");
        }

        IReadOnlyList<string> args = input.Args ?? [];
        if (args.Count > MaxArgs || args.Any(a => a is null || HasNul(a) || a.Length > MaxArgLength))
        {
            return KheishError.BadRequest("invalid_args", $"`args` holds at most {MaxArgs} strings of at most {MaxArgLength} characters without NUL");
        }

        if (input.Cwd is { } cwd && (!Path.IsPathFullyQualified(cwd) || HasNul(cwd)))
        {
            return KheishError.BadRequest("invalid_cwd", "`cwd` must be an absolute path");
        }

        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in input.Env ?? [])
        {
            if (!IsEnvName(key) || key.StartsWith(ReservedPrefix, StringComparison.Ordinal))
            {
                return KheishError.BadRequest("invalid_env", $"`env.{ConnectorName.Printable(key)}`: a variable name is [A-Za-z_][A-Za-z0-9_]* and may not start with {ReservedPrefix}");
            }

            if (value is null || HasNul(value) || value.Length > MaxArgLength)
            {
                return KheishError.BadRequest("invalid_env", $"`env.{key}` must be a string of at most {MaxArgLength} characters without NUL");
            }

            env[key] = value;
        }

        if (env.Count + (input.EnvKeys?.Count ?? 0) > MaxEnv)
        {
            return KheishError.BadRequest("invalid_env", $"`env` and `env_keys` hold at most {MaxEnv} entries together");
        }

        var envKeys = new SortedDictionary<string, ConnectorSecret>(StringComparer.Ordinal);
        foreach (var (key, field) in input.EnvKeys ?? [])
        {
            if (ConnectorName.CheckEnvKey(key, "`env_keys` key") is { } keyError)
            {
                return keyError;
            }

            if (env.ContainsKey(key))
            {
                return KheishError.BadRequest("invalid_env", $"`{key}` is in both `env` and `env_keys`");
            }

            ConnectorSecret? kept = existing?.EnvKeys?.GetValueOrDefault(key);
            if (!Secret(name, $"env_keys.{key}", key, field, kept, slotExists, inline).TryGetValue(out ConnectorSecret? secret, out KheishError? error))
            {
                return error;
            }

            envKeys[key] = secret!;
        }

        if (input.IngressFrom is { } from && ConnectorName.CheckName(from) is { } fromError)
        {
            return KheishError.BadRequest(fromError.Code, "`ingress_from`: " + fromError.Message);
        }

        CredentialScope? scope = input.Scope?.Normalize();
        return new ConnectorDefinition
        {
            Kind = ConnectorKind.External,
            Name = name,
            Command = input.Command,
            Args = args.Count == 0 ? null : [.. args],
            Cwd = input.Cwd,
            Env = env.Count == 0 ? null : env,
            EnvKeys = envKeys.Count == 0 ? null : new Dictionary<string, ConnectorSecret>(envKeys, StringComparer.Ordinal),
            IngressFrom = input.IngressFrom,
            Scope = scope is { IsEmpty: false } ? scope : null,
        };
    }

    /// <summary>
    /// One secret field: exactly one of secret_ref, env, value; or, when omitted, the existing
    /// reference (write-only fields cannot be read back, so an update need not repeat them).
    /// </summary>
    private static Result<ConnectorSecret?> Secret(
        string name, string field, string key, ConnectorSecretInput? given, ConnectorSecret? kept, Func<SlotId, bool> slotExists, List<InlineSecretWrite> inline)
    {
        if (given is null)
        {
            return kept;
        }

        int count = (given.SecretRef is null ? 0 : 1) + (given.Env is null ? 0 : 1) + (given.Value is null ? 0 : 1);
        if (count != 1)
        {
            return KheishError.BadRequest("invalid_secret_field", $"`{field}` takes exactly one of secret_ref, env or value");
        }

        if (given.SecretRef is { } secretRef)
        {
            if (!SlotId.Parse(secretRef).TryGetValue(out SlotId slot, out KheishError? slotError))
            {
                return KheishError.BadRequest(slotError.Code, $"`{field}.secret_ref`: {slotError.Message}");
            }

            return slotExists(slot)
                ? new ConnectorSecret(ConnectorSecret.FromSecretRef, slot.Value)
                : KheishError.BadRequest("secret_ref_not_found", $"`{field}.secret_ref`: no secret slot named {slot}");
        }

        if (given.Env is { } variable)
        {
            return IsEnvName(variable)
                ? new ConnectorSecret(ConnectorSecret.FromEnv, Env: variable)
                : KheishError.BadRequest("invalid_secret_field", $"`{field}.env` must be a variable name [A-Za-z_][A-Za-z0-9_]*");
        }

        string value = given.Value!;
        if (value.Length == 0 || value.Length > MaxSecretValueLength || HasNul(value))
        {
            return KheishError.BadRequest("invalid_secret_field", $"`{field}.value` must be 1 to {MaxSecretValueLength} characters without NUL");
        }

        SlotId id = SlotId.Parse(InlineSlotId(name, key)).Value;
        inline.Add(new InlineSecretWrite(id, value));
        return new ConnectorSecret(ConnectorSecret.Inline, id.Value);
    }

    private static KheishError? Refuse(ConnectorKind kind, string field, bool present, bool allowed) =>
        present && !allowed ? KheishError.BadRequest("field_not_allowed", $"a {kind.Name()} connector does not take `{field}`") : null;

    private static KheishError? CheckBaseUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
            && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.UserInfo)
            ? null
            : KheishError.BadRequest("invalid_api_base_url", "`api_base_url` must be an absolute http(s) URL without query or user info");

    private static bool IsEnvName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= 256 && !char.IsAsciiDigit(name[0])
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static bool HasNul(string s) => s.Contains('\0', StringComparison.Ordinal);
}
