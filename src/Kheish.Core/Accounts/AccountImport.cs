using System.Text;
using System.Text.Json;
using Kheish.Core.Errors;

namespace Kheish.Core.Accounts;

/// <summary>What an import read: the account state to store and warnings for the operator.</summary>
internal sealed record ImportedAccount(AccountState State, IReadOnlyList<string> Warnings);

/// <summary>
/// Reads a Codex <c>auth.json</c> or a Claude Code <c>.credentials.json</c> (Kheish reference §8)
/// into an account state. Every refusal names the file and the member at fault and never quotes
/// a value; nothing is written here.
/// </summary>
internal static class AccountImport
{
    public const string RequiredClaudeScope = "user:inference";

    /// <summary>The scopes <c>codex login</c> asks for; assumed when the access token does not list its own.</summary>
    public static readonly IReadOnlyList<string> CodexLoginScopes = ScopeList.Normalize(["openid", "profile", "email", "offline_access"]);

    private const int MaxFileBytes = 1024 * 1024;

    /// <summary><c>$CODEX_HOME/auth.json</c>, else <c>~/.codex/auth.json</c>.</summary>
    public static string DefaultPath(AccountKind kind, Func<string, string?> getEnv)
    {
        ArgumentNullException.ThrowIfNull(getEnv);
        string home = getEnv("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return kind == AccountKind.Codex
            ? Path.Combine(getEnv("CODEX_HOME") is { Length: > 0 } codexHome ? codexHome : Path.Combine(home, ".codex"), "auth.json")
            : Path.Combine(getEnv("CLAUDE_CONFIG_DIR") is { Length: > 0 } claudeDir ? claudeDir : Path.Combine(home, ".claude"), ".credentials.json");
    }

    public static Result<ImportedAccount> FromFile(AccountKind kind, string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        var warnings = new List<string>();
        Result<byte[]> bytes = Read(kind, full, warnings);
        if (!bytes.IsOk)
        {
            return bytes.Error;
        }

        Result<AccountState> state = Parse(kind, bytes.Value, full);
        return state.IsOk ? new ImportedAccount(state.Value, warnings) : state.Error;
    }

    /// <summary>Parses the file's bytes; <paramref name="path"/> is only used in messages and as the source.</summary>
    public static Result<AccountState> Parse(AccountKind kind, byte[] bytes, string path)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes);
        }
        catch (JsonException ex)
        {
            // Position only: the text holds tokens.
            return Shape(path, $"it is not valid JSON (line {(ex.LineNumber ?? 0) + 1})");
        }

        using (document)
        {
            return document.RootElement.ValueKind != JsonValueKind.Object
                ? Shape(path, "its top level must be a JSON object")
                : kind == AccountKind.Codex ? ParseCodex(document.RootElement, path) : ParseClaude(document.RootElement, path);
        }
    }

    private static Result<AccountState> ParseCodex(JsonElement root, string path)
    {
        if (root.TryGetProperty("auth_mode", out JsonElement mode) && mode.ValueKind != JsonValueKind.Null)
        {
            if (mode.ValueKind != JsonValueKind.String)
            {
                return Shape(path, "auth_mode must be a string");
            }

            if (string.Equals(mode.GetString(), "apikey", StringComparison.OrdinalIgnoreCase))
            {
                return ApiKeyOnly(path);
            }
        }

        if (!root.TryGetProperty("tokens", out JsonElement tokens) || tokens.ValueKind == JsonValueKind.Null)
        {
            return root.TryGetProperty("OPENAI_API_KEY", out JsonElement key) && key.ValueKind == JsonValueKind.String
                ? ApiKeyOnly(path)
                : Shape(path, "it has no \"tokens\" object (is this a ChatGPT login? run `codex login`)");
        }

        if (tokens.ValueKind != JsonValueKind.Object)
        {
            return Shape(path, "tokens must be an object");
        }

        if (!OptionalString(tokens, "refresh_token", path, "tokens.refresh_token", out string? refresh, out KheishError? error)
            || !OptionalString(tokens, "access_token", path, "tokens.access_token", out string? access, out error)
            || !OptionalString(tokens, "id_token", path, "tokens.id_token", out string? idToken, out error)
            || !OptionalString(tokens, "account_id", path, "tokens.account_id", out string? accountId, out error))
        {
            return error;
        }

        if (refresh is not { Length: > 0 })
        {
            return Shape(path, "tokens.refresh_token must be a non-empty string");
        }

        JwtClaims? accessClaims = JwtClaims.TryRead(access);
        accountId ??= JwtClaims.TryRead(idToken)?.ChatGptAccountId ?? accessClaims?.ChatGptAccountId;
        return Checked(new AccountState
        {
            Kind = AccountKind.Codex,
            AccessToken = access ?? string.Empty,
            RefreshToken = refresh,
            IdToken = idToken,
            AccountId = accountId,
            ExpiresAtMs = accessClaims?.ExpiresAtMs,
            Scopes = accessClaims?.Scopes is { Count: > 0 } scp ? scp : CodexLoginScopes,
            SourcePath = path,
        }, path);
    }

    private static Result<AccountState> ParseClaude(JsonElement root, string path)
    {
        if (!root.TryGetProperty("claudeAiOauth", out JsonElement oauth) || oauth.ValueKind != JsonValueKind.Object)
        {
            return Shape(path, "it has no \"claudeAiOauth\" object (is this a Claude Code subscription login? run `claude` and /login)");
        }

        if (!OptionalString(oauth, "accessToken", path, "claudeAiOauth.accessToken", out string? access, out KheishError? error)
            || !OptionalString(oauth, "refreshToken", path, "claudeAiOauth.refreshToken", out string? refresh, out error)
            || !OptionalString(oauth, "subscriptionType", path, "claudeAiOauth.subscriptionType", out string? subscription, out error)
            || !OptionalString(oauth, "rateLimitTier", path, "claudeAiOauth.rateLimitTier", out string? tier, out error))
        {
            return error;
        }

        if (access is not { Length: > 0 })
        {
            return Shape(path, "claudeAiOauth.accessToken must be a non-empty string");
        }

        if (refresh is not { Length: > 0 })
        {
            return Shape(path, "claudeAiOauth.refreshToken must be a non-empty string");
        }

        if (!oauth.TryGetProperty("expiresAt", out JsonElement expires) || expires.ValueKind != JsonValueKind.Number
            || !expires.TryGetInt64(out long expiresAtMs) || expiresAtMs <= 0)
        {
            return Shape(path, "claudeAiOauth.expiresAt must be a positive integer (milliseconds since the epoch)");
        }

        IReadOnlyList<string>? scopes = oauth.TryGetProperty("scopes", out JsonElement s) ? ScopeList.FromJson(s) : null;
        if (scopes is null)
        {
            return Shape(path, "claudeAiOauth.scopes must be an array of strings");
        }

        if (!scopes.Contains(RequiredClaudeScope, StringComparer.Ordinal))
        {
            return KheishError.BadRequest(
                "account_scope_missing",
                $"{path}: the Claude Code login lacks the {RequiredClaudeScope} scope (it has: {Printable(scopes)}), so it cannot call models; " +
                "log in again with `claude` (/login with a Claude subscription), then import");
        }

        return Checked(new AccountState
        {
            Kind = AccountKind.ClaudeCode,
            AccessToken = access,
            RefreshToken = refresh,
            ExpiresAtMs = expiresAtMs,
            Scopes = scopes,
            SubscriptionType = subscription is { Length: > 0 and <= 64 } ? subscription : null,
            RateLimitTier = tier is { Length: > 0 and <= 128 } ? tier : null,
            SourcePath = path,
        }, path);
    }

    /// <summary>Runs the slot-state rules over the result, so an import never stores what a route cannot send.</summary>
    private static Result<AccountState> Checked(AccountState state, string path)
    {
        Result<AccountState> again = AccountState.FromJson(state.Kind, state.ToJson(), "import");
        return again.IsOk
            ? state
            : KheishError.BadRequest("invalid_account_file", $"{path}: {again.Error.Message["slot import: ".Length..]}");
    }

    private static Result<byte[]> Read(AccountKind kind, string path, List<string> warnings)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return Missing(kind, path, Directory.Exists(path) ? "it is a directory" : "it does not exist");
            }

            if (info.Length > MaxFileBytes)
            {
                return Shape(path, $"it is larger than {MaxFileBytes} bytes; that is not a credentials file");
            }

            if (!OperatingSystem.IsWindows())
            {
                UnixFileMode mode = File.GetUnixFileMode(path);
                if ((mode & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
                {
                    warnings.Add($"{path} is readable by group or others (mode {Convert.ToString((int)mode, 8).PadLeft(4, '0')}); run chmod 600 on it, or delete it once imported");
                }
            }

            return File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException)
        {
            return KheishError.BadRequest("account_file_unreadable", $"cannot read {path}: permission denied");
        }
        catch (IOException ex)
        {
            return KheishError.BadRequest("account_file_unreadable", $"cannot read {path}: {ex.GetType().Name}");
        }
    }

    private static KheishError Missing(AccountKind kind, string path, string why) => KheishError.BadRequest(
        "account_file_missing",
        kind == AccountKind.Codex
            ? $"no Codex login file at {path}: {why}. Log in with `codex login` first. If Codex keeps its credentials in the OS keyring " +
              "(cli_auth_credentials_store = \"keyring\" or \"auto\" in $CODEX_HOME/config.toml), there is no file to import: set " +
              "cli_auth_credentials_store = \"file\" and run `codex login` again, or write the login to a file shaped like auth.json " +
              "({\"tokens\":{\"refresh_token\":...}}) and pass it with --file"
            : $"no Claude Code credentials file at {path}: {why}. Log in with `claude` (/login) first; on macOS Claude Code keeps them in the " +
              "Keychain (item \"Claude Code-credentials\"): export that JSON to a file and pass it with --file");

    private static KheishError ApiKeyOnly(string path) => KheishError.BadRequest(
        "account_not_oauth",
        $"{path} holds an OpenAI API key login, not a ChatGPT account; store the key with `kheish-daemon secrets set <ref> --provider openai --from-file ...` instead");

    private static KheishError Shape(string path, string what) =>
        KheishError.BadRequest("invalid_account_file", $"{path}: {what}");

    private static bool OptionalString(JsonElement obj, string name, string path, string label, out string? value, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out KheishError? error)
    {
        value = null;
        error = null;
        if (!obj.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        if (v.ValueKind != JsonValueKind.String)
        {
            error = Shape(path, $"{label} must be a string");
            return false;
        }

        value = v.GetString();
        return true;
    }

    /// <summary>Scope names are shown only when they look like scope names.</summary>
    private static string Printable(IReadOnlyList<string> scopes)
    {
        var shown = new StringBuilder();
        foreach (string scope in scopes)
        {
            bool plain = scope.Length <= 64 && scope.All(c => char.IsAsciiLetterOrDigit(c) || c is ':' or '_' or '-' or '.');
            shown.Append(shown.Length == 0 ? "" : " ").Append(plain ? scope : "(unprintable)");
        }

        return shown.Length == 0 ? "none" : shown.ToString();
    }
}
