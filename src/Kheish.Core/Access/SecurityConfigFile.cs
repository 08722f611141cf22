using System.Globalization;
using System.Text.Json;
using Kheish.Core.Errors;
using Kheish.Core.Storage;
using Kheish.Core.Text;

namespace Kheish.Core.Access;

/// <summary>
/// Reads and writes security.json. Reading is strict (unknown fields, unknown mode, bad
/// entries, duplicate properties are errors that name the file and the field) because a
/// configuration the daemon misunderstands must refuse, never fail open. Writing is atomic,
/// 0600, in a 0700 directory, and always stores digests (plaintext entries are upgraded).
/// </summary>
internal static class SecurityConfigFile
{
    public const string Code = "config_invalid";
    public const int MaxBytes = 4 * 1024 * 1024;

    private static readonly JsonDocumentOptions DocumentOptions = new()
    {
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
        MaxDepth = 16,
    };

    /// <summary>Loads the file: null when it does not exist, else the config or a <c>config_invalid</c> error naming it.</summary>
    public static Result<SecurityConfig>? Load(string path)
    {
        byte[]? bytes;
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > MaxBytes)
            {
                return Invalid(path, $"the file is larger than {MaxBytes / (1024 * 1024)} MiB");
            }

            bytes = AtomicFile.ReadOrNull(path);
        }
        catch (UnauthorizedAccessException)
        {
            return Invalid(path, "the file cannot be read (permission denied)");
        }
        catch (IOException ex)
        {
            return Invalid(path, "the file cannot be read (" + Kheish.Core.Errors.IoReason.Of(ex) + ")");
        }

        if (bytes is null)
        {
            return null;
        }

        return Parse(bytes, path);
    }

    public static Result<SecurityConfig> Parse(ReadOnlySpan<byte> json, string path)
    {
        try
        {
            return ParseOrThrow(json);
        }
        catch (JsonException ex)
        {
            return Invalid(path, "not valid JSON: " + ex.Message);
        }
        catch (FormatException ex)
        {
            return Invalid(path, ex.Message);
        }
    }

    public static void Save(string path, SecurityConfig config)
    {
        var document = new SecurityFileDocument(
            config.Mode.Name(),
            [.. config.ApiKeys.Select(k => new ApiKeyDocument(k.Id, ApiKeys.FormatDigest(k.Digest), k.Principal, k.Scope, k.CreatedAt)
            {
                RateLimit = k.Limits?.RateLimit,
                MaxConcurrent = k.Limits?.MaxConcurrent,
                Budget = k.Limits?.Budget,
            })],
            [.. config.AllowedIps.Entries],
            [.. config.TrustedProxies.Entries],
            config.CreatedAt ?? Now());
        byte[] bytes = JsonSerializer.SerializeToUtf8Bytes(document, SecurityJsonContext.Default.SecurityFileDocument);
        AtomicFile.Write(path, [.. bytes, (byte)'\n']);
    }

    public static string Now() => DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static KheishError Invalid(string path, string why) =>
        KheishError.Misconfigured(Code, $"{path}: {why}. Fix the file (or remove it, or run 'kheish-daemon security setup'); until then the agent plane refuses every request.");

    private static SecurityConfig ParseOrThrow(ReadOnlySpan<byte> json)
    {
        using JsonDocument doc = JsonDocument.Parse(json.ToArray(), DocumentOptions);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("the top level must be a JSON object");
        }

        SecurityMode mode = SecurityMode.Strict;
        var keys = new List<ApiKeyEntry>();
        IReadOnlyList<IpRule> allowed = [];
        IReadOnlyList<IpRule> proxies = [];
        string? createdAt = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in root.EnumerateObject())
        {
            if (!seen.Add(property.Name))
            {
                throw new FormatException($"'{property.Name}' appears more than once");
            }

            switch (property.Name)
            {
                case "mode":
                    if (property.Value.ValueKind != JsonValueKind.String || !SecurityModes.TryParse(property.Value.GetString(), out mode))
                    {
                        throw new FormatException("'mode' must be one of \"strict\", \"relaxed\", \"lax\"");
                    }

                    break;
                case "api_keys":
                    ReadKeys(property.Value, keys);
                    break;
                case "allowed_ips":
                    allowed = ReadRules(property.Value, "allowed_ips");
                    break;
                case "trusted_proxies":
                    proxies = ReadRules(property.Value, "trusted_proxies");
                    break;
                case "created_at":
                    createdAt = ReadTimestamp(property.Value, "created_at");
                    break;
                case "port":
                    // Written by the original Kaimon wizard; the listen address is serve's business.
                    break;
                default:
                    throw new FormatException($"unknown field '{property.Name}' (known: mode, api_keys, allowed_ips, trusted_proxies, created_at)");
            }
        }

        return new SecurityConfig(mode, keys, new IpAllowList(allowed), new IpAllowList(proxies), createdAt);
    }

    private static void ReadKeys(JsonElement array, List<ApiKeyEntry> keys)
    {
        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException("'api_keys' must be an array");
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        var digests = new HashSet<KeyDigest>();
        int i = 0;
        foreach (JsonElement item in array.EnumerateArray())
        {
            string where = $"api_keys[{i++}]";
            ApiKeyEntry entry = item.ValueKind switch
            {
                JsonValueKind.String => ReadPlaintextKey(item, where),
                JsonValueKind.Object => ReadDigestKey(item, where),
                _ => throw new FormatException($"{where} must be an object {{\"id\", \"digest\": \"sha256:...\"}} or a plaintext key string"),
            };
            if (!digests.Add(entry.Digest))
            {
                throw new FormatException($"{where} is the same key as an earlier entry");
            }

            if (!ids.Add(entry.Id))
            {
                throw new FormatException($"{where}: the id '{entry.Id}' is used by another key");
            }

            keys.Add(entry);
        }
    }

    private static ApiKeyEntry ReadPlaintextKey(JsonElement item, string where)
    {
        string key = item.GetString()!;
        if (key.Length == 0 || key.Length > ApiKeys.MaxPresentedLength || key.Any(char.IsWhiteSpace) || ControlCharacters.In(key))
        {
            throw new FormatException($"{where}: a plaintext key must be 1-{ApiKeys.MaxPresentedLength} characters without spaces");
        }

        KeyDigest digest = ApiKeys.Digest(key);
        string id = ApiKeys.DeriveId(digest);
        return new ApiKeyEntry { Id = id, Digest = digest, Principal = ApiKeyEntry.DefaultPrincipal(id), IsWeak = true };
    }

    private static ApiKeyEntry ReadDigestKey(JsonElement item, string where)
    {
        string? id = null;
        string? digestText = null;
        string? principal = null;
        string? createdAt = null;
        ApiKeyScope? scope = null;
        int? rateLimit = null;
        int? maxConcurrent = null;
        ApiKeyBudget? budget = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty p in item.EnumerateObject())
        {
            if (!seen.Add(p.Name))
            {
                throw new FormatException($"{where}: '{p.Name}' appears more than once");
            }

            switch (p.Name)
            {
                case "id":
                    id = ReadString(p.Value, $"{where}.id");
                    if (!IsValidId(id))
                    {
                        throw new FormatException($"{where}.id must be 1-64 characters of letters, digits, '.', '_' or '-'");
                    }

                    break;
                case "digest":
                    digestText = ReadString(p.Value, $"{where}.digest");
                    break;
                case "principal":
                    principal = ReadString(p.Value, $"{where}.principal");
                    if (!IsValidPrincipal(principal))
                    {
                        throw new FormatException($"{where}.principal must be 1-128 printable characters without spaces");
                    }

                    break;
                case "scope":
                    scope = ReadScope(p.Value, $"{where}.scope");
                    break;
                case "created_at":
                    createdAt = ReadTimestamp(p.Value, $"{where}.created_at");
                    break;
                case "rate_limit":
                    rateLimit = ReadLimit(p.Value, $"{where}.rate_limit", ApiKeyLimits.MaxRateLimit);
                    break;
                case "max_concurrent":
                    maxConcurrent = ReadLimit(p.Value, $"{where}.max_concurrent", ApiKeyLimits.MaxConcurrentLimit);
                    break;
                case "budget":
                    budget = ReadBudget(p.Value, $"{where}.budget");
                    break;
                default:
                    throw new FormatException($"{where}: unknown field '{p.Name}' (known: id, digest, principal, scope, created_at, rate_limit, max_concurrent, budget)");
            }
        }

        if (digestText is null || !ApiKeys.TryParseDigest(digestText, out KeyDigest digest))
        {
            throw new FormatException($"{where}.digest must be \"sha256:\" followed by 64 hex digits");
        }

        id ??= ApiKeys.DeriveId(digest);
        return new ApiKeyEntry
        {
            Id = id,
            Digest = digest,
            Principal = principal ?? ApiKeyEntry.DefaultPrincipal(id),
            Scope = scope,
            CreatedAt = createdAt,
            Limits = ApiKeyLimits.OrNull(rateLimit, maxConcurrent, budget),
        };
    }

    private static int ReadLimit(JsonElement element, string where, int max) =>
        element.ValueKind == JsonValueKind.Number && element.TryGetInt32(out int value) && value is >= 1 && value <= max
            ? value
            : throw new FormatException($"{where} must be an integer from 1 to {max} (leave it out for no limit)");

    /// <summary>The budget object, read field by field so each mistake is named.</summary>
    public static ApiKeyBudget ReadBudget(JsonElement element, string where)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"{where} must be an object such as {{\"requests_per_day\": 1000, \"tokens_per_day\": 200000, \"tokens_per_month\": 5000000}}");
        }

        long? requests = null, tokensDay = null, tokensMonth = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty p in element.EnumerateObject())
        {
            if (!seen.Add(p.Name))
            {
                throw new FormatException($"{where}: '{p.Name}' appears more than once");
            }

            if (p.Name is not ("requests_per_day" or "tokens_per_day" or "tokens_per_month"))
            {
                throw new FormatException($"{where}: unknown field (known: requests_per_day, tokens_per_day, tokens_per_month)");
            }

            long value = p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt64(out long v) && v is >= 1 and <= ApiKeyBudget.MaxValue
                ? v
                : throw new FormatException($"{where}.{p.Name} must be an integer from 1 to {ApiKeyBudget.MaxValue} (leave it out for no bound)");
            switch (p.Name)
            {
                case "requests_per_day":
                    requests = value;
                    break;
                case "tokens_per_day":
                    tokensDay = value;
                    break;
                default:
                    tokensMonth = value;
                    break;
            }
        }

        var budget = new ApiKeyBudget(requests, tokensDay, tokensMonth);
        return budget.Validate() is { } problem ? throw new FormatException($"{where}: {problem}") : budget;
    }

    public static ApiKeyScope ReadScope(JsonElement element, string where)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"{where} must be an object with lists such as route_allow, connector_deny, mcp_server_allow");
        }

        ApiKeyScope scope;
        try
        {
            scope = element.Deserialize(SecurityJsonContext.Default.ApiKeyScope)
                ?? throw new FormatException($"{where} must be an object");
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{where}: {ex.Message}");
        }

        if (scope.Validate() is { } problem)
        {
            throw new FormatException($"{where}.{problem}");
        }

        return scope;
    }

    private static List<IpRule> ReadRules(JsonElement array, string field)
    {
        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException($"'{field}' must be an array of addresses or CIDR ranges");
        }

        var rules = new List<IpRule>();
        int i = 0;
        foreach (JsonElement item in array.EnumerateArray())
        {
            string where = $"{field}[{i++}]";
            string text = ReadString(item, where);
            Result<IpRule> rule = IpRule.Parse(text);
            if (!rule.IsOk)
            {
                throw new FormatException($"{where}: {rule.Error.Message}");
            }

            if (!rules.Contains(rule.Value))
            {
                rules.Add(rule.Value);
            }
        }

        return rules;
    }

    private static string ReadTimestamp(JsonElement element, string where)
    {
        string text = ReadString(element, where);
        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _))
        {
            throw new FormatException($"{where} must be an ISO 8601 timestamp such as 2026-01-31T12:00:00Z");
        }

        return text;
    }

    private static string ReadString(JsonElement element, string where) =>
        element.ValueKind == JsonValueKind.String
            ? element.GetString()!
            : throw new FormatException($"{where} must be a string");

    public static bool IsValidId(string id) =>
        id.Length is > 0 and <= 64 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    public static bool IsValidPrincipal(string principal) =>
        principal.Length is > 0 and <= 128 && !principal.Any(c => char.IsWhiteSpace(c) || char.IsControl(c));
}
