using System.Text.Json;
using Kheish.Core.Errors;
using Kheish.Core.Routes;
using Kheish.Core.Text;

namespace Kheish.Core.Accounts;

/// <summary>
/// What an MCP OAuth account is bound to, besides its tokens: the MCP server (name and RFC 8707
/// resource), the authorization server (issuer, endpoints) and the OAuth client that logged in.
/// Stored flat in the slot state next to the tokens; everything but <see cref="ClientSecret"/>
/// is metadata shown by <c>accounts get</c>. <see cref="ClientAuth"/> is how the client
/// authenticates at the token endpoint (<c>none</c>, <c>client_secret_basic</c>,
/// <c>client_secret_post</c>; absent: <c>none</c> without a secret, Basic with one);
/// <see cref="ClientSource"/> says where the client came from (one of <see cref="ClientSources"/>).
/// </summary>
internal sealed record McpOauthAccount(
    string ServerName,
    string Resource,
    string Issuer,
    string AuthorizationEndpoint,
    string TokenEndpoint,
    string ClientId,
    string? ClientSecret,
    IReadOnlyList<string> RequestedScopes,
    string? ClientAuth = null,
    string? ClientSource = null)
{
    /// <summary>Every MCP OAuth slot lives under this prefix (<c>mcp.oauth.&lt;id&gt;</c>).</summary>
    public const string SlotPrefix = "mcp.oauth.";

    public const string AuthNone = "none";
    public const string AuthBasic = "client_secret_basic";
    public const string AuthPost = "client_secret_post";

    public static readonly IReadOnlyList<string> ClientAuths = [AuthNone, AuthBasic, AuthPost];

    /// <summary>
    /// <c>pre_registered</c> (--client-id), <c>metadata_document</c> (--client-metadata-url),
    /// <c>registered</c> (RFC 7591 now), <c>reused</c> (a registered client stored for the issuer).
    /// </summary>
    public static readonly IReadOnlyList<string> ClientSources = ["pre_registered", "metadata_document", "registered", "reused"];

    /// <summary>Whether the token requests send the secret in the body (<c>client_secret_post</c>) rather than in Basic auth.</summary>
    public bool SecretInBody => ClientAuth == AuthPost;

    /// <summary>The id in <c>mcp.oauth.&lt;id&gt;</c>, or the slot itself when it has another shape.</summary>
    public static string IdOf(string slotId) =>
        slotId.StartsWith(SlotPrefix, StringComparison.Ordinal) && slotId.Length > SlotPrefix.Length ? slotId[SlotPrefix.Length..] : slotId;

    public static Result<McpOauthAccount> FromJson(JsonElement state, string slotId)
    {
        string? Required(string name) => AccountState.String(state, name) is { Length: > 0 and <= 2048 } v && !ControlCharacters.In(v) ? v : null;

        if (Required("server_name") is not { } server)
        {
            return Invalid(slotId, "state.server_name must be a non-empty string");
        }

        foreach (string field in (string[])["resource", "issuer", "authorization_endpoint", "token_endpoint"])
        {
            if (Required(field) is not { } url || McpOauthUrls.Check(url, field, allowHttpForLoopback: true, allowQuery: field != "issuer") is not null)
            {
                return Invalid(slotId, $"state.{field} must be an https URL (http only for loopback) without credentials or fragment");
            }
        }

        if (Required("client_id") is not { } clientId || !RouteValues.IsHeaderSafe(clientId))
        {
            return Invalid(slotId, "state.client_id must be a non-empty string");
        }

        string? secret = AccountState.String(state, "client_secret");
        if (secret is not null && (secret.Length == 0 || !RouteValues.IsHeaderSafe(secret)))
        {
            return Invalid(slotId, "state.client_secret must be a non-empty string that can be sent in an HTTP request");
        }

        IReadOnlyList<string>? requested = state.TryGetProperty("requested_scopes", out JsonElement r) ? ScopeList.FromJson(r) : [];
        if (requested is null)
        {
            return Invalid(slotId, "state.requested_scopes must be an array of strings");
        }

        string? auth = AccountState.String(state, "token_endpoint_auth_method");
        if (auth is not null && (!ClientAuths.Contains(auth) || (auth == AuthNone) != (secret is null)))
        {
            return Invalid(slotId, "state.token_endpoint_auth_method must be none (no client_secret), client_secret_basic or client_secret_post (with one)");
        }

        string? source = AccountState.String(state, "client_source");
        if (source is not null && !ClientSources.Contains(source))
        {
            return Invalid(slotId, $"state.client_source must be one of {string.Join(", ", ClientSources)}");
        }

        return new McpOauthAccount(server, Required("resource")!, Required("issuer")!, Required("authorization_endpoint")!, Required("token_endpoint")!, clientId, secret, requested, auth, source);
    }

    public void Write(Utf8JsonWriter w)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.WriteString("server_name", ServerName);
        w.WriteString("resource", Resource);
        w.WriteString("issuer", Issuer);
        w.WriteString("authorization_endpoint", AuthorizationEndpoint);
        w.WriteString("token_endpoint", TokenEndpoint);
        w.WriteString("client_id", ClientId);
        if (ClientSecret is not null)
        {
            w.WriteString("client_secret", ClientSecret);
        }

        if (ClientAuth is not null)
        {
            w.WriteString("token_endpoint_auth_method", ClientAuth);
        }

        if (ClientSource is not null)
        {
            w.WriteString("client_source", ClientSource);
        }

        w.WriteStartArray("requested_scopes");
        foreach (string scope in RequestedScopes)
        {
            w.WriteStringValue(scope);
        }

        w.WriteEndArray();
    }

    public override string ToString() =>
        $"McpOauthAccount {{ ServerName = {ServerName}, Resource = {Resource}, Issuer = {Issuer}, ClientId = {ClientId}, ClientSecret = {(ClientSecret is null ? "none" : "<redacted>")} }}";

    private static KheishError Invalid(string slotId, string what) =>
        KheishError.BadRequest("invalid_slot_state", $"slot {slotId}: {what}");
}
