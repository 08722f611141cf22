using System.Buffers;
using System.Text.Json;
using Kheish.Core.Errors;

namespace Kheish.Core.Secrets;

/// <summary>
/// One secret slot as stored. <see cref="State"/> holds the secret material and never leaves
/// the process except toward its upstream: <see cref="ToString"/> omits it and
/// <see cref="ToStatus"/> is the only view meant for output.
/// </summary>
internal sealed record SlotRecord(SlotId SlotId, SlotProvider Provider, SlotMode Mode, JsonElement State, long UpdatedAtMs)
{
    /// <summary>The secret of an <c>api_key</c> (<c>state.api_key</c>) or <c>opaque_secret</c> (<c>state.value</c>) slot; null otherwise.</summary>
    public string? SecretValue() => Mode switch
    {
        SlotMode.ApiKey => StringMember(State, "api_key"),
        SlotMode.OpaqueSecret => StringMember(State, "value"),
        _ => null,
    };

    /// <summary>A slot holding one secret string, in the state shape its mode prescribes.</summary>
    public static SlotRecord WithSecret(SlotId slotId, SlotProvider provider, SlotMode mode, string value, long updatedAtMs)
    {
        string member = mode switch
        {
            SlotMode.ApiKey => "api_key",
            SlotMode.OpaqueSecret => "value",
            _ => throw new ArgumentException("an oauth_account slot holds an object, not one string", nameof(mode)),
        };
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString(member, value);
            writer.WriteEndObject();
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return new SlotRecord(slotId, provider, mode, document.RootElement.Clone(), updatedAtMs);
    }

    /// <summary>Checks the provider/mode pairing and the state shape. Messages name fields, never values.</summary>
    public KheishError? Validate()
    {
        string id = SlotId.Value;
        if (id is null)
        {
            return KheishError.BadRequest("invalid_slot_id", "a slot id must not be empty");
        }

        bool modeFits = Provider switch
        {
            SlotProvider.Generic => Mode == SlotMode.OpaqueSecret,
            SlotProvider.McpOauth => Mode == SlotMode.OauthAccount,
            _ => Mode is SlotMode.ApiKey or SlotMode.OauthAccount,
        };
        if (!modeFits)
        {
            string allowed = Provider switch
            {
                SlotProvider.Generic => "opaque_secret",
                SlotProvider.McpOauth => "oauth_account",
                _ => "api_key or oauth_account",
            };
            return KheishError.BadRequest(
                "invalid_slot_mode",
                $"slot {id}: provider {Provider.Name()} takes mode {allowed}, not {Mode.Name()}");
        }

        if (State.ValueKind != JsonValueKind.Object)
        {
            return KheishError.BadRequest("invalid_slot_state", $"slot {id}: state must be a JSON object");
        }

        string? required = Mode switch
        {
            SlotMode.ApiKey => "api_key",
            SlotMode.OpaqueSecret => "value",
            _ => null,
        };
        if (required is not null && StringMember(State, required) is not { Length: > 0 })
        {
            return KheishError.BadRequest(
                "invalid_slot_state",
                $"slot {id}: mode {Mode.Name()} needs state.{required} as a non-empty string");
        }

        // A Codex or Claude Code account must be one the refresher and the routes can use.
        if (Accounts.AccountKinds.Of(Provider, Mode) is { } kind
            && !Accounts.AccountState.FromJson(kind, State, id).TryGetValue(out _, out KheishError? accountError))
        {
            return accountError;
        }

        return null;
    }

    /// <summary>The metadata-only operator view (Kheish reference §1). Never contains a secret.</summary>
    public SlotStatus ToStatus()
    {
        Dictionary<string, string>? details = null;
        string summary = (Provider, Mode) switch
        {
            (_, SlotMode.OpaqueSecret) => "opaque_secret",
            (_, SlotMode.ApiKey) => "api_key",
            (SlotProvider.McpOauth, _) => $"mcp_oauth_account:{StringMember(State, "server_name") ?? "unknown"}",
            (SlotProvider.OpenAi, _) => WithPath($"codex_account:{StringMember(State, "account_id") ?? "unknown"}"),
            (SlotProvider.Anthropic, _) => WithPath($"claude_code_account:{StringMember(State, "subscription_type") ?? "unknown"}"),
            _ => "oauth_account",
        };
        if (Provider == SlotProvider.McpOauth && State.ValueKind == JsonValueKind.Object)
        {
            details = McpOauthDetails(State);
        }
        else if (Accounts.AccountKinds.Of(Provider, Mode) is not null && State.ValueKind == JsonValueKind.Object)
        {
            details = Details(State, AccountDetailKeys);
        }

        return new SlotStatus(SlotId.Value, Provider, Mode, summary, UpdatedAtMs, details is { Count: > 0 } ? details : null);
    }

    public override string ToString() =>
        $"SlotRecord {{ SlotId = {SlotId}, Provider = {Provider.Name()}, Mode = {Mode.Name()}, State = <redacted>, UpdatedAtMs = {UpdatedAtMs} }}";

    private string WithPath(string summary) =>
        StringMember(State, "source_path") is { Length: > 0 } path ? $"{summary} ({path})" : summary;

    /// <summary>Only these non-secret members of an MCP OAuth account are shown (tokens and client secrets never are).</summary>
    private static readonly string[] McpOauthDetailKeys =
    [
        "server_name", "resource", "issuer", "authorization_endpoint", "token_endpoint", "client_id", "client_source", "token_endpoint_auth_method",
        "expires_at_ms", "scopes", "last_refresh_at_ms", "last_refresh_outcome", "last_refresh_error",
    ];

    /// <summary>The non-secret members of a Codex or Claude Code account (tokens never are).</summary>
    private static readonly string[] AccountDetailKeys =
    [
        "expires_at_ms", "scopes", "last_refresh_at_ms", "last_refresh_outcome", "last_refresh_error",
    ];

    private static Dictionary<string, string> McpOauthDetails(JsonElement state) => Details(state, McpOauthDetailKeys);

    private static Dictionary<string, string> Details(JsonElement state, string[] keys)
    {
        var details = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string key in keys)
        {
            if (!state.TryGetProperty(key, out JsonElement value))
            {
                continue;
            }

            string? text = value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Number => value.GetRawText(),
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                JsonValueKind.Array => string.Join(' ', value.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString())),
                _ => null,
            };
            if (text is not null)
            {
                details[key] = text;
            }
        }

        return details;
    }

    private static string? StringMember(JsonElement state, string name) =>
        state.ValueKind == JsonValueKind.Object && state.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;
}
