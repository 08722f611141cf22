using System.Buffers;
using System.Text.Json;
using Kheish.Core.Errors;
using Kheish.Core.Routes;
using Kheish.Core.Secrets;

namespace Kheish.Core.Accounts;

/// <summary>
/// The state of an imported Codex or Claude Code account, as kept (encrypted) in its
/// <c>oauth_account</c> slot. The token members never leave the process except toward the
/// provider; <see cref="ToString"/> omits them.
/// </summary>
internal sealed record AccountState
{
    public const string SuccessOutcome = "success";
    public const string FailureOutcome = "failure";

    public required AccountKind Kind { get; init; }

    /// <summary>Empty when the import had none (Codex allows that: the first use refreshes).</summary>
    public required string AccessToken { get; init; }

    public required string RefreshToken { get; init; }

    public string? IdToken { get; init; }

    /// <summary>Codex: the ChatGPT account id sent as <c>ChatGPT-Account-ID</c>.</summary>
    public string? AccountId { get; init; }

    public long? ExpiresAtMs { get; init; }

    public required IReadOnlyList<string> Scopes { get; init; }

    public string? SubscriptionType { get; init; }

    public string? RateLimitTier { get; init; }

    /// <summary>The file it was imported from (shown in the summary; not a secret).</summary>
    public required string SourcePath { get; init; }

    public long? LastRefreshAtMs { get; init; }

    public string? LastRefreshOutcome { get; init; }

    /// <summary>Redacted: built by the daemon from status codes and OAuth error codes, never from a response body.</summary>
    public string? LastRefreshError { get; init; }

    /// <summary>MCP OAuth only: the server, authorization server and client this account belongs to.</summary>
    public McpOauthAccount? Mcp { get; init; }

    /// <summary>Reads the state of an account slot; errors name members, never values.</summary>
    public static Result<AccountState> FromSlot(SlotRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (AccountKinds.Of(record) is not { } kind)
        {
            return KheishError.BadRequest("not_an_account", $"slot {record.SlotId} is not a Codex, Claude Code or MCP OAuth account (provider {record.Provider.Name()}, mode {record.Mode.Name()})");
        }

        return FromJson(kind, record.State, record.SlotId.Value);
    }

    public static Result<AccountState> FromJson(AccountKind kind, JsonElement state, string slotId)
    {
        if (state.ValueKind != JsonValueKind.Object)
        {
            return Invalid(slotId, "the state must be a JSON object");
        }

        // An MCP authorization server may issue no refresh token: the account then lives until expiry.
        string? refresh = String(state, "refresh_token");
        if (kind == AccountKind.McpOauth && refresh is null)
        {
            refresh = string.Empty;
        }
        else if (refresh is not { Length: > 0 })
        {
            return Invalid(slotId, "state.refresh_token must be a non-empty string");
        }

        string access = String(state, "access_token") ?? string.Empty;
        if (kind is AccountKind.ClaudeCode or AccountKind.McpOauth && access.Length == 0)
        {
            return Invalid(slotId, "state.access_token must be a non-empty string");
        }

        if ((refresh.Length > 0 && !RouteValues.IsHeaderSafe(refresh)) || (access.Length > 0 && !RouteValues.IsHeaderSafe(access)))
        {
            return Invalid(slotId, "a token holds characters that cannot be sent in an HTTP request");
        }

        IReadOnlyList<string>? scopes = state.TryGetProperty("scopes", out JsonElement s) ? ScopeList.FromJson(s) : [];
        if (scopes is null)
        {
            return Invalid(slotId, "state.scopes must be an array of strings");
        }

        long? expires = null;
        if (state.TryGetProperty("expires_at_ms", out JsonElement e) && e.ValueKind != JsonValueKind.Null)
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long ms))
            {
                return Invalid(slotId, "state.expires_at_ms must be an integer (milliseconds since the epoch)");
            }

            expires = ms;
        }

        if (kind == AccountKind.ClaudeCode && expires is null)
        {
            return Invalid(slotId, "state.expires_at_ms is required for a Claude Code account");
        }

        string? accountId = String(state, "account_id");
        if (accountId is not null && !RouteValues.IsHeaderSafe(accountId))
        {
            return Invalid(slotId, "state.account_id holds characters that cannot be sent in an HTTP header");
        }

        McpOauthAccount? mcp = null;
        if (kind == AccountKind.McpOauth && !McpOauthAccount.FromJson(state, slotId).TryGetValue(out mcp, out KheishError? mcpError))
        {
            return mcpError;
        }

        return new AccountState
        {
            Mcp = mcp,
            Kind = kind,
            AccessToken = access,
            RefreshToken = refresh,
            IdToken = String(state, "id_token"),
            AccountId = accountId,
            ExpiresAtMs = expires,
            Scopes = scopes,
            SubscriptionType = String(state, "subscription_type"),
            RateLimitTier = String(state, "rate_limit_tier"),
            SourcePath = String(state, "source_path") ?? (kind == AccountKind.McpOauth ? "mcp oauth login" : "unknown"),
            LastRefreshAtMs = Long(state, "last_refresh_at_ms"),
            LastRefreshOutcome = String(state, "last_refresh_outcome"),
            LastRefreshError = String(state, "last_refresh_error"),
        };
    }

    /// <summary>The slot state object (snake_case members; absent optionals omitted).</summary>
    public JsonElement ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            if (AccessToken.Length > 0)
            {
                w.WriteString("access_token", AccessToken);
            }

            if (RefreshToken.Length > 0 || Kind != AccountKind.McpOauth)
            {
                w.WriteString("refresh_token", RefreshToken);
            }

            Mcp?.Write(w);
            Optional(w, "id_token", IdToken);
            Optional(w, "account_id", AccountId);
            if (ExpiresAtMs is { } expires)
            {
                w.WriteNumber("expires_at_ms", expires);
            }

            w.WriteStartArray("scopes");
            foreach (string scope in Scopes)
            {
                w.WriteStringValue(scope);
            }

            w.WriteEndArray();
            Optional(w, "subscription_type", SubscriptionType);
            Optional(w, "rate_limit_tier", RateLimitTier);
            w.WriteString("source_path", SourcePath);
            if (LastRefreshAtMs is { } at)
            {
                w.WriteNumber("last_refresh_at_ms", at);
            }

            Optional(w, "last_refresh_outcome", LastRefreshOutcome);
            Optional(w, "last_refresh_error", LastRefreshError);
            w.WriteEndObject();
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }

    public SlotRecord ToRecord(SlotId slotId, long updatedAtMs = 0) =>
        new(slotId, Kind.Provider(), SlotMode.OauthAccount, ToJson(), updatedAtMs);

    /// <summary>The secret strings of this state: scrubbed from anything the daemon writes about it.</summary>
    public IEnumerable<string> Secrets()
    {
        if (AccessToken.Length > 0)
        {
            yield return AccessToken;
        }

        if (RefreshToken.Length > 0)
        {
            yield return RefreshToken;
        }

        if (Mcp?.ClientSecret is { Length: > 0 } clientSecret)
        {
            yield return clientSecret;
        }

        if (IdToken is { Length: > 0 } id)
        {
            yield return id;
        }
    }

    public override string ToString() =>
        $"AccountState {{ Kind = {Kind}, AccountId = {AccountId}, ExpiresAtMs = {ExpiresAtMs}, Scopes = [{string.Join(' ', Scopes)}], Tokens = <redacted> }}";

    private static KheishError Invalid(string slotId, string what) =>
        KheishError.BadRequest("invalid_slot_state", $"slot {slotId}: {what}");

    private static void Optional(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null)
        {
            w.WriteString(name, value);
        }
    }

    internal static string? String(JsonElement state, string name) =>
        state.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static long? Long(JsonElement state, string name) =>
        state.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) ? n : null;
}
