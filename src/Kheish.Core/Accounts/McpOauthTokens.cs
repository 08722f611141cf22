using Duende.IdentityModel.Client;
using Kheish.Core.Errors;
using Kheish.Core.Routes;

namespace Kheish.Core.Accounts;

/// <summary>
/// The two token requests of an MCP OAuth account, sent with Duende.IdentityModel: the
/// authorization-code exchange (with the PKCE verifier) at login and the refresh-token grant
/// afterwards. Both carry the RFC 8707 <c>resource</c> of the MCP server. Failures come back
/// as redacted reasons: the HTTP status and a plain OAuth error code, never a response body.
/// </summary>
internal static class McpOauthTokens
{
    public const string Code = "account_refresh_failed";

    public static async Task<Result<RefreshedTokens>> RefreshAsync(HttpMessageInvoker http, AccountState state, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Mcp is not { } mcp)
        {
            return Failed(Code, "the account has no MCP OAuth metadata");
        }

        if (state.RefreshToken.Length == 0)
        {
            return Failed(Code, "the account holds no refresh token (the authorization server issued none)");
        }

        using var request = new RefreshTokenRequest
        {
            Address = mcp.TokenEndpoint,
            ClientId = mcp.ClientId,
            ClientSecret = mcp.ClientSecret,
            ClientCredentialStyle = CredentialStyle(mcp),
            RefreshToken = state.RefreshToken,

            // Ask for what the account holds, never more.
            Scope = state.Scopes.Count > 0 ? string.Join(' ', state.Scopes) : null,
        };
        request.Resource.Add(mcp.Resource);
        TokenResponse response = await http.RequestRefreshTokenAsync(request, ct).ConfigureAwait(false);
        return FromResponse(response, Code);
    }

    public static async Task<Result<RefreshedTokens>> ExchangeCodeAsync(
        HttpMessageInvoker http, McpOauthAccount mcp, string code, Uri redirectUri, string verifier, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(mcp);
        ArgumentNullException.ThrowIfNull(redirectUri);
        using var request = new AuthorizationCodeTokenRequest
        {
            Address = mcp.TokenEndpoint,
            ClientId = mcp.ClientId,
            ClientSecret = mcp.ClientSecret,
            ClientCredentialStyle = CredentialStyle(mcp),
            Code = code,
            RedirectUri = redirectUri.AbsoluteUri,
            CodeVerifier = verifier,
        };
        request.Resource.Add(mcp.Resource);
        TokenResponse response = await http.RequestAuthorizationCodeTokenAsync(request, ct).ConfigureAwait(false);
        return response.IsError && ErrorCode(response) == "invalid_client"
            ? Failed(McpOauthLogin.ClientRejected, $"the token endpoint answered {(int)response.HttpStatusCode} (invalid_client): it does not accept this client")
            : FromResponse(response, "mcp_oauth_exchange_failed");
    }

    /// <summary>Where the client's credentials go: the body for a public client or <c>client_secret_post</c>, else Basic auth.</summary>
    private static ClientCredentialStyle CredentialStyle(McpOauthAccount mcp) =>
        mcp.ClientSecret is null || mcp.SecretInBody ? ClientCredentialStyle.PostBody : ClientCredentialStyle.AuthorizationHeader;

    /// <summary>The scopes a token response grants beyond <paramref name="requested"/> (empty when none were requested and none granted).</summary>
    public static IReadOnlyList<string> Escalation(IReadOnlyList<string>? granted, IReadOnlyList<string> requested) =>
        granted is null ? [] : ScopeList.NotHeld(granted, requested);

    private static Result<RefreshedTokens> FromResponse(TokenResponse response, string code)
    {
        if (response.IsError)
        {
            return response.ErrorType == ResponseErrorType.Exception
                ? Failed(code, $"the token endpoint could not be reached ({response.Exception?.GetType().Name ?? "error"})")
                : Failed(code, $"the token endpoint answered {(int)response.HttpStatusCode}{PlainCode(ErrorCode(response))}");
        }

        string? access = response.AccessToken;
        if (access is not { Length: > 0 } || !RouteValues.IsHeaderSafe(access))
        {
            return Failed(code, "the token response has no usable access_token");
        }

        string? refresh = response.RefreshToken;
        if (refresh is not null && (refresh.Length == 0 || !RouteValues.IsHeaderSafe(refresh)))
        {
            return Failed(code, "the token response has an unusable refresh_token");
        }

        long? expiresIn = response.ExpiresIn is > 0 and <= 10 * 365 * 24 * 3600 ? response.ExpiresIn : null;
        IReadOnlyList<string>? scopes = response.Scope is { } scope ? scope.Split(' ', StringSplitOptions.RemoveEmptyEntries) : null;
        return new RefreshedTokens(access, refresh, response.IdentityToken, expiresIn, scopes, response.TokenType);
    }

    /// <summary>
    /// The OAuth <c>error</c> of a failed token response. Duende reads it as a protocol error only
    /// for a 400; for another status (RFC 6749 §5.2: <c>invalid_client</c> may come with 401) its
    /// <c>Error</c> is the HTTP reason phrase, so the body's <c>error</c> is read here.
    /// </summary>
    internal static string? ErrorCode(TokenResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (response.ErrorType == ResponseErrorType.Protocol)
        {
            return response.Error;
        }

        if (response.Raw is not { Length: > 0 and <= 64 * 1024 } raw)
        {
            return null;
        }

        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(raw);
            return document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                && document.RootElement.TryGetProperty("error", out System.Text.Json.JsonElement e) && e.ValueKind == System.Text.Json.JsonValueKind.String
                ? e.GetString()
                : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static string PlainCode(string? error) =>
        error is { Length: > 0 and <= 64 } e && e.All(ch => char.IsAsciiLetterLower(ch) || char.IsAsciiDigit(ch) || ch == '_') ? $" ({e})" : string.Empty;

    private static KheishError Failed(string code, string reason) => KheishError.Unavailable(code, reason);
}
