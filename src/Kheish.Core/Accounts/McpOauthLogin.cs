using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Duende.IdentityModel.Client;
using Kheish.Core.Errors;
using Kheish.Core.Text;

namespace Kheish.Core.Accounts;

/// <summary>What <c>mcp oauth login</c> was asked to do.</summary>
internal sealed record McpOauthLoginRequest(
    string ServerName,
    Uri Url,
    string? ClientId,
    string? ClientSecret,
    IReadOnlyList<string>? Scopes,
    bool AllowHttpForLoopback,
    Uri? ClientMetadataUrl = null)
{
    public override string ToString() => $"McpOauthLoginRequest {{ ServerName = {ServerName}, Url = {Url}, ClientId = {ClientId}, ClientSecret = <redacted> }}";
}

/// <summary>What discovery found: the protected resource, its authorization server, and what that server supports.</summary>
internal sealed record McpOauthDiscovery(
    string Resource,
    string Issuer,
    string AuthorizationEndpoint,
    string TokenEndpoint,
    string? RegistrationEndpoint,
    bool IssParameterSupported,
    IReadOnlyList<string> DefaultScopes,
    bool ClientIdMetadataDocumentSupported = false,
    IReadOnlyList<string>? TokenEndpointAuthMethods = null);

/// <summary>
/// The client a login uses: its id, its secret (pre-registered or issued by a registration that
/// ignored our <c>none</c>), how it authenticates at the token endpoint, and where it came from
/// (<see cref="McpOauthAccount.ClientSources"/>). Only a <c>registered</c> client without a secret
/// may be stored for reuse.
/// </summary>
internal sealed record McpOauthClient(string ClientId, string? ClientSecret, string Auth, string Source)
{
    public bool Storable => Source == "registered" && ClientSecret is null && Auth == McpOauthAccount.AuthNone;

    public override string ToString() => $"McpOauthClient {{ ClientId = {ClientId}, ClientSecret = {(ClientSecret is null ? "none" : "<redacted>")}, Auth = {Auth}, Source = {Source} }}";
}

/// <summary>One authorization request in flight: the URL to open and what its redirect must match.</summary>
internal sealed record McpOauthAuthorization(Uri AuthorizeUrl, Uri RedirectUri, string State, string CodeVerifier, McpOauthAccount Account, bool IssParameterSupported)
{
    public override string ToString() => $"McpOauthAuthorization {{ RedirectUri = {RedirectUri}, Client = {Account.ClientId}, State = <redacted> }}";
}

/// <summary>
/// The protocol of <c>mcp oauth login</c> (MCP authorization, OAuth 2.1), step by step:
/// RFC 9728 protected-resource discovery (the 401's <c>resource_metadata</c>, else the
/// well-known URLs), RFC 8414 / OpenID discovery with the issuer checked,
/// a client identity (a pre-registered id, else RFC 7591 dynamic registration), the
/// authorization request with PKCE S256, <c>state</c> and the RFC 8707 <c>resource</c>, the
/// redirect checked (<c>state</c> in constant time, <c>iss</c> per RFC 9207), and the code
/// exchange, whose granted scopes may not exceed the requested ones. Every URL a server returns
/// goes through <see cref="McpOauthUrls"/>; errors name what is wrong, never a token.
/// </summary>
internal sealed class McpOauthLogin(HttpClient http)
{
    private const int MaxMetadataBytes = 256 * 1024;

    public async Task<Result<McpOauthDiscovery>> DiscoverAsync(McpOauthLoginRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        bool loopbackHttp = request.AllowHttpForLoopback;
        if (McpOauthUrls.Check(request.Url.OriginalString, "--url", loopbackHttp) is { } urlProblem)
        {
            return Bad("mcp_oauth_url_invalid", urlProblem);
        }

        // 1. The server's own challenge, then the well-known locations (RFC 9728 §3, §5.1).
        (Uri? metadataUrl, string? challengeScope) = await ChallengeAsync(request.Url, ct).ConfigureAwait(false);
        if (metadataUrl is not null && McpOauthUrls.Check(metadataUrl.OriginalString, "the resource_metadata of the server's WWW-Authenticate", loopbackHttp) is { } metaProblem)
        {
            return Bad("mcp_oauth_metadata_invalid", metaProblem);
        }

        JsonElement? prm = null;
        foreach (Uri candidate in metadataUrl is not null ? [metadataUrl] : McpOauthUrls.ProtectedResourceMetadataUrls(request.Url))
        {
            if (await GetJsonAsync(candidate, ct).ConfigureAwait(false) is { } found)
            {
                prm = found;
                break;
            }
        }

        if (prm is not { } metadata)
        {
            return Unavailable("mcp_oauth_discovery_failed",
                $"{request.Url.GetLeftPart(UriPartial.Path)} publishes no OAuth protected-resource metadata (RFC 9728): neither a resource_metadata in its 401 nor /.well-known/oauth-protected-resource");
        }

        string? resource = Str(metadata, "resource");
        if (resource is null || !ResourceCovers(resource, request.Url))
        {
            return Bad("mcp_oauth_resource_mismatch", $"the protected-resource metadata names resource {Shown(resource)}, neither {request.Url.GetLeftPart(UriPartial.Path)} nor a parent path of it on the same origin (RFC 9728 §3.3); refused");
        }

        if (McpOauthUrls.Check(resource, "the metadata's resource", loopbackHttp) is { } resourceProblem)
        {
            return Bad("mcp_oauth_metadata_invalid", resourceProblem);
        }

        if (!metadata.TryGetProperty("authorization_servers", out JsonElement servers) || servers.ValueKind != JsonValueKind.Array
            || servers.GetArrayLength() == 0 || servers[0].ValueKind != JsonValueKind.String)
        {
            return Bad("mcp_oauth_metadata_invalid", "the protected-resource metadata lists no authorization_servers");
        }

        string issuer = servers[0].GetString()!;
        if (McpOauthUrls.Check(issuer, "the authorization server (issuer)", loopbackHttp, allowQuery: false) is { } issuerProblem)
        {
            return Bad("mcp_oauth_metadata_invalid", issuerProblem);
        }

        // 2. The authorization server's metadata (RFC 8414, else OpenID discovery), its issuer checked
        // against the one we asked for. Read here, not with Duende's discovery client: that one also
        // fetches jwks_uri whenever the document names one, and fails the discovery when the fetch
        // fails, for keys this login never uses (no ID token is validated).
        JsonElement? asMetadata = null;
        string? lastError = null;
        foreach (Uri candidate in McpOauthUrls.AuthorizationServerMetadataUrls(new Uri(issuer)))
        {
            (JsonElement? found, int status) = await GetJsonWithStatusAsync(candidate, ct).ConfigureAwait(false);
            if (found is not null)
            {
                asMetadata = found;
                break;
            }

            lastError = $"{(status == 0 ? "unreachable or not JSON" : status.ToString(System.Globalization.CultureInfo.InvariantCulture))} at {candidate.AbsolutePath}";
        }

        if (asMetadata is not { } document)
        {
            return Unavailable("mcp_oauth_discovery_failed", $"the authorization server {issuer} publishes no RFC 8414 or OpenID metadata ({lastError})");
        }

        // RFC 8414 §3.3: identical to the issuer the metadata URL was built from, as a string.
        string? documentIssuer = Str(document, "issuer");
        if (!string.Equals(documentIssuer, issuer, StringComparison.Ordinal))
        {
            return Bad("mcp_oauth_issuer_mismatch", $"the authorization server metadata names issuer {Shown(documentIssuer)}, not {issuer}; refused");
        }

        if (StrArray(document, "code_challenge_methods_supported")?.Contains("S256", StringComparer.Ordinal) != true)
        {
            return Bad("mcp_oauth_pkce_unsupported", $"the authorization server {issuer} does not advertise PKCE S256 (code_challenge_methods_supported); refused");
        }

        string? authorizeEndpoint = Str(document, "authorization_endpoint");
        string? tokenEndpoint = Str(document, "token_endpoint");
        foreach ((string field, string? value) in (IEnumerable<(string, string?)>)[("authorization_endpoint", authorizeEndpoint), ("token_endpoint", tokenEndpoint)])
        {
            if (value is null || McpOauthUrls.Check(value, $"the server's {field}", loopbackHttp) is { } endpointProblem)
            {
                return Bad("mcp_oauth_metadata_invalid", value is null ? $"the authorization server metadata has no {field}" : McpOauthUrls.Check(value, $"the server's {field}", loopbackHttp)!);
            }
        }

        string? registration = Str(document, "registration_endpoint");
        if (registration is not null && McpOauthUrls.Check(registration, "the server's registration_endpoint", loopbackHttp) is { } registrationProblem)
        {
            return Bad("mcp_oauth_metadata_invalid", registrationProblem);
        }

        IReadOnlyList<string> defaults = challengeScope is { Length: > 0 } s ? s.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            : metadata.TryGetProperty("scopes_supported", out JsonElement supported) ? ScopeList.FromJson(supported) ?? []
            : [];
        return new McpOauthDiscovery(resource, issuer, authorizeEndpoint!, tokenEndpoint!, registration,
            Bool(document, "authorization_response_iss_parameter_supported"), defaults,
            Bool(document, "client_id_metadata_document_supported"),
            StrArray(document, "token_endpoint_auth_methods_supported"));
    }

    /// <summary>
    /// The client, in the MCP spec's order of preference: the pre-registered one; the client ID
    /// metadata document URL when one is configured and the server advertises
    /// <c>client_id_metadata_document_supported</c> (the URL is the client_id, nothing is registered);
    /// else one registered now (RFC 7591, a public native client) for this redirect URI.
    /// </summary>
    public async Task<Result<McpOauthClient>> ClientAsync(McpOauthLoginRequest request, McpOauthDiscovery discovery, Uri redirectUri, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(discovery);
        if (request.ClientId is { } id)
        {
            return new McpOauthClient(id, request.ClientSecret, ClientAuth(request.ClientSecret, null, discovery.TokenEndpointAuthMethods), "pre_registered");
        }

        if (UsesMetadataDocument(request, discovery) is { } metadataUrl)
        {
            return new McpOauthClient(metadataUrl.AbsoluteUri, null, McpOauthAccount.AuthNone, "metadata_document");
        }

        return await RegisterAsync(discovery, redirectUri, ct).ConfigureAwait(false);
    }

    /// <summary>The client ID metadata document URL when the login uses one (configured and supported), else null.</summary>
    public static Uri? UsesMetadataDocument(McpOauthLoginRequest request, McpOauthDiscovery discovery) =>
        request?.ClientId is null && request?.ClientMetadataUrl is { } url && discovery?.ClientIdMetadataDocumentSupported == true ? url : null;

    /// <summary>Registers a public native client for <paramref name="redirectUri"/> (RFC 7591).</summary>
    public async Task<Result<McpOauthClient>> RegisterAsync(McpOauthDiscovery discovery, Uri redirectUri, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(discovery);
        ArgumentNullException.ThrowIfNull(redirectUri);

        if (discovery.RegistrationEndpoint is not { } endpoint)
        {
            return Bad("mcp_oauth_client_required",
                $"the authorization server {discovery.Issuer} supports no dynamic client registration; register a client there (redirect URI {redirectUri}) and pass --client-id");
        }

        // Our own request body: Duende's DynamicClientRegistrationDocument sends its empty collections
        // (default_acr_values: [] and others), which an authorization server may read as requested
        // values (oidc-provider then demands the openid scope). Only what we mean is sent.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("client_name", "kheish-daemon");
            w.WriteString("application_type", "native");
            w.WriteString("token_endpoint_auth_method", "none");
            w.WriteStartArray("redirect_uris");
            w.WriteStringValue(redirectUri.AbsoluteUri);
            w.WriteEndArray();
            w.WriteStartArray("grant_types");
            w.WriteStringValue("authorization_code");
            w.WriteStringValue("refresh_token");
            w.WriteEndArray();
            w.WriteStartArray("response_types");
            w.WriteStringValue("code");
            w.WriteEndArray();
            w.WriteEndObject();
        }

        using var post = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(buffer.WrittenSpan.ToArray()) };
        post.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        post.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        int status = 0;
        string? clientId = null;
        string? clientSecret = null;
        string? registeredAuth = null;
        string? errorCode = null;
        try
        {
            using HttpResponseMessage response = await http.SendAsync(post, ct).ConfigureAwait(false);
            status = (int)response.StatusCode;
            byte[] body = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
            if (body.Length <= MaxMetadataBytes)
            {
                using var document = JsonDocument.Parse(body);
                if (document.RootElement.ValueKind == JsonValueKind.Object)
                {
                    clientId = response.IsSuccessStatusCode ? Str(document.RootElement, "client_id") : null;
                    clientSecret = response.IsSuccessStatusCode ? Str(document.RootElement, "client_secret") : null;
                    registeredAuth = response.IsSuccessStatusCode ? Str(document.RootElement, "token_endpoint_auth_method") : null;
                    errorCode = Str(document.RootElement, "error");
                }
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or TaskCanceledException && !ct.IsCancellationRequested)
        {
        }

        if (clientId is not { Length: > 0 and <= 512 } || ControlCharacters.In(clientId))
        {
            return Unavailable("mcp_oauth_registration_failed",
                $"dynamic client registration at {endpoint} failed ({(status == 0 ? "unreachable" : status.ToString(System.Globalization.CultureInfo.InvariantCulture) + PlainCode(errorCode))}); pass --client-id for a pre-registered client");
        }

        clientSecret = clientSecret is { Length: > 0 } ? clientSecret : null;
        return new McpOauthClient(clientId, clientSecret, ClientAuth(clientSecret, registeredAuth, discovery.TokenEndpointAuthMethods), "registered");
    }

    /// <summary>
    /// How a client authenticates at the token endpoint: <c>none</c> without a secret; with one, the
    /// method its registration answered, else Basic when the server supports it (or says nothing:
    /// RFC 8414's default), else <c>client_secret_post</c> when that is all it supports.
    /// </summary>
    public static string ClientAuth(string? secret, string? registered, IReadOnlyList<string>? supported)
    {
        if (secret is null)
        {
            return McpOauthAccount.AuthNone;
        }

        if (registered is McpOauthAccount.AuthBasic or McpOauthAccount.AuthPost)
        {
            return registered;
        }

        return supported is { Count: > 0 } && !supported.Contains(McpOauthAccount.AuthBasic) && supported.Contains(McpOauthAccount.AuthPost)
            ? McpOauthAccount.AuthPost
            : McpOauthAccount.AuthBasic;
    }

    /// <summary>
    /// Whether the authorization server still knows a stored public client, asked before the
    /// browser step (an unknown client_id gets an error page there, never a redirect): a code
    /// exchange with a random code, which no server can redeem. <c>invalid_client</c> (RFC 6749
    /// §5.2) means the client is gone; any other answer (invalid_grant, as expected) means it is known.
    /// </summary>
    public async Task<bool> ClientRejectedAsync(McpOauthDiscovery discovery, string clientId, Uri redirectUri, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(discovery);
        ArgumentNullException.ThrowIfNull(redirectUri);
        using var request = new AuthorizationCodeTokenRequest
        {
            Address = discovery.TokenEndpoint,
            ClientId = clientId,
            ClientCredentialStyle = ClientCredentialStyle.PostBody,
            Code = Base64Url(RandomNumberGenerator.GetBytes(32)),
            RedirectUri = redirectUri.AbsoluteUri,
            CodeVerifier = Base64Url(RandomNumberGenerator.GetBytes(32)),
        };
        request.Resource.Add(discovery.Resource);
        TokenResponse response = await http.RequestAuthorizationCodeTokenAsync(request, ct).ConfigureAwait(false);
        return response.IsError && response.ErrorType != ResponseErrorType.Exception && McpOauthTokens.ErrorCode(response) == "invalid_client";
    }

    /// <summary>The code of an exchange or redirect whose error says the authorization server does not accept the client.</summary>
    public const string ClientRejected = "mcp_oauth_client_rejected";

    /// <summary>A fresh authorization request: 256-bit state and PKCE verifier, S256 challenge, the resource indicator.</summary>
    public static McpOauthAuthorization Authorize(McpOauthDiscovery discovery, McpOauthAccount account, Uri redirectUri, IReadOnlyList<string> scopes)
    {
        ArgumentNullException.ThrowIfNull(discovery);
        ArgumentNullException.ThrowIfNull(account);
        string state = Base64Url(RandomNumberGenerator.GetBytes(32));
        string verifier = Base64Url(RandomNumberGenerator.GetBytes(32));
        string challenge = Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));
        var extra = new Parameters { { "resource", discovery.Resource } };
        string url = new RequestUrl(discovery.AuthorizationEndpoint).CreateAuthorizeUrl(
            clientId: account.ClientId,
            responseType: "code",
            scope: scopes.Count > 0 ? string.Join(' ', scopes) : null,
            redirectUri: redirectUri.AbsoluteUri,
            state: state,
            codeChallenge: challenge,
            codeChallengeMethod: "S256",
            extra: extra);
        return new McpOauthAuthorization(new Uri(url), redirectUri, state, verifier, account, discovery.IssParameterSupported);
    }

    /// <summary>The code from a redirect, once <c>state</c>, <c>iss</c> and <c>error</c> are checked. Nothing of the query is echoed.</summary>
    public static Result<string> CheckRedirect(McpOauthAuthorization pending, IReadOnlyDictionary<string, string> query)
    {
        ArgumentNullException.ThrowIfNull(pending);
        ArgumentNullException.ThrowIfNull(query);
        if (!query.TryGetValue("state", out string? state)
            || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(state), Encoding.UTF8.GetBytes(pending.State)))
        {
            return Bad("mcp_oauth_state_mismatch", "the redirect's state does not match this login (a forged or stale redirect); nothing was stored");
        }

        // RFC 9207: when the server says it sends iss, it must be there and be the issuer; if sent anyway, it must match.
        query.TryGetValue("iss", out string? iss);
        if ((pending.IssParameterSupported && iss is null) || (iss is not null && !string.Equals(iss, pending.Account.Issuer, StringComparison.Ordinal)))
        {
            return Bad("mcp_oauth_iss_mismatch", $"the redirect's iss {(iss is null ? "is missing" : "does not name " + pending.Account.Issuer)} (RFC 9207, mix-up defence); nothing was stored");
        }

        if (query.TryGetValue("error", out string? error))
        {
            if (error is "invalid_client" or "unauthorized_client")
            {
                return Bad(ClientRejected, $"the authorization server refused the client{PlainCode(error)}; nothing was stored");
            }

            return Bad("mcp_oauth_denied", $"the authorization server refused the login{PlainCode(error)}; nothing was stored");
        }

        return query.TryGetValue("code", out string? code) && code.Length is > 0 and <= 4096
            ? code
            : Bad("mcp_oauth_no_code", "the redirect carries no authorization code; nothing was stored");
    }

    /// <summary>Exchanges the code; the granted scopes may not exceed the requested ones.</summary>
    public async Task<Result<AccountState>> ExchangeAsync(McpOauthAuthorization pending, string code, long nowMs, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(pending);
        if (!(await McpOauthTokens.ExchangeCodeAsync(http, pending.Account, code, pending.RedirectUri, pending.CodeVerifier, ct).ConfigureAwait(false))
                .TryGetValue(out RefreshedTokens? tokens, out KheishError? error))
        {
            return error;
        }

        if (tokens.TokenType is { } type && !string.Equals(type, "Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return Bad("mcp_oauth_token_type", "the token endpoint issued a token that is not a Bearer token; nothing was stored");
        }

        IReadOnlyList<string> requested = pending.Account.RequestedScopes;
        if (McpOauthTokens.Escalation(tokens.Scopes, requested) is { Count: > 0 } extra)
        {
            return Bad("mcp_oauth_scope_escalation",
                $"the authorization server granted {extra.Count} scope(s) that were not requested ({string.Join(' ', extra.Select(s => McpOauthUrls.IsScope(s) && s.Length <= 64 ? s : "(unprintable)"))}); refused, nothing was stored");
        }

        return new AccountState
        {
            Kind = AccountKind.McpOauth,
            AccessToken = tokens.AccessToken,
            RefreshToken = tokens.RefreshToken ?? string.Empty,
            ExpiresAtMs = tokens.ExpiresInSeconds is { } seconds ? nowMs + (seconds * 1000) : null,
            Scopes = tokens.Scopes is { Count: > 0 } granted ? granted : requested,
            SourcePath = "mcp oauth login",
            Mcp = pending.Account,
        };
    }

    /// <summary>An unauthenticated MCP request; a 401's Bearer challenge gives <c>resource_metadata</c> and <c>scope</c>.</summary>
    private async Task<(Uri? MetadataUrl, string? Scope)> ChallengeAsync(Uri url, CancellationToken ct)
    {
        const string Initialize = """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"kheish-daemon","version":"1"}}}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(Initialize, Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        try
        {
            using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (response.StatusCode != System.Net.HttpStatusCode.Unauthorized)
            {
                return (null, null);
            }

            foreach (AuthenticationHeaderValue challenge in response.Headers.WwwAuthenticate)
            {
                if (string.Equals(challenge.Scheme, "Bearer", StringComparison.OrdinalIgnoreCase) && challenge.Parameter is { } parameter)
                {
                    string? metadata = Param(parameter, "resource_metadata");
                    return (metadata is not null && Uri.TryCreate(metadata, UriKind.Absolute, out Uri? u) ? u : null, Param(parameter, "scope"));
                }
            }
        }
        catch (HttpRequestException)
        {
        }

        return (null, null);
    }

    /// <summary>One auth-param of a challenge (<c>name="value"</c> or <c>name=token</c>).</summary>
    internal static string? Param(string parameters, string name)
    {
        int i = 0;
        while (i < parameters.Length)
        {
            while (i < parameters.Length && (parameters[i] == ',' || char.IsWhiteSpace(parameters[i])))
            {
                i++;
            }

            int eq = parameters.IndexOf('=', i);
            if (eq < 0)
            {
                return null;
            }

            string key = parameters[i..eq].Trim();
            i = eq + 1;
            string value;
            if (i < parameters.Length && parameters[i] == '"')
            {
                var sb = new StringBuilder();
                i++;
                while (i < parameters.Length && parameters[i] != '"')
                {
                    if (parameters[i] == '\\' && i + 1 < parameters.Length)
                    {
                        i++;
                    }

                    sb.Append(parameters[i]);
                    i++;
                }

                i++;
                value = sb.ToString();
            }
            else
            {
                int end = parameters.IndexOf(',', i);
                end = end < 0 ? parameters.Length : end;
                value = parameters[i..end].Trim();
                i = end;
            }

            if (string.Equals(key, name, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return null;
    }

    private async Task<JsonElement?> GetJsonAsync(Uri url, CancellationToken ct) => (await GetJsonWithStatusAsync(url, ct).ConfigureAwait(false)).Json;

    /// <summary>A metadata document: a JSON object of at most 256 KiB from a 2xx, else null with the status (0: unreachable or unusable).</summary>
    private async Task<(JsonElement? Json, int Status)> GetJsonWithStatusAsync(Uri url, CancellationToken ct)
    {
        int status = 0;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            status = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode || response.Content.Headers.ContentLength > MaxMetadataBytes)
            {
                return (null, status);
            }

            byte[] body = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
            if (body.Length > MaxMetadataBytes)
            {
                return (null, status);
            }

            using var document = JsonDocument.Parse(body);
            return (document.RootElement.ValueKind == JsonValueKind.Object ? document.RootElement.Clone() : null, status);
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return (null, 0);
        }
    }

    private static IReadOnlyList<string>? StrArray(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Array
            ? [.. v.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!)]
            : null;

    private static bool Bool(JsonElement obj, string name) => obj.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.True;

    /// <summary>
    /// Whether the metadata's <paramref name="resource"/> names <paramref name="url"/> or a parent of it
    /// on the same origin (the server's root metadata names the origin: RFC 9728 §3.1 puts it at
    /// <c>/.well-known/oauth-protected-resource</c> with no path suffix). The token is then asked for
    /// that resource; another origin, or a sibling path, is refused.
    /// </summary>
    internal static bool ResourceCovers(string resource, Uri url)
    {
        if (SameResource(resource, url))
        {
            return true;
        }

        if (!Uri.TryCreate(resource, UriKind.Absolute, out Uri? r) || r.Query.Length > 0
            || !string.Equals(r.GetLeftPart(UriPartial.Authority), url.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        string parent = r.AbsolutePath.TrimEnd('/');
        return parent.Length == 0 || url.AbsolutePath.StartsWith(parent + "/", StringComparison.Ordinal);
    }

    internal static bool SameResource(string a, Uri b) =>
        Uri.TryCreate(a, UriKind.Absolute, out Uri? x)
        && string.Equals(x.GetLeftPart(UriPartial.Authority), b.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase)
        && string.Equals(x.PathAndQuery.TrimEnd('/'), b.PathAndQuery.TrimEnd('/'), StringComparison.Ordinal);

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string? Str(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string Shown(string? text) => text is { Length: > 0 and <= 200 } t && t.All(c => c is > ' ' and <= '~') ? t : "(none or unprintable)";

    private static string PlainCode(string? error) =>
        error is { Length: > 0 and <= 64 } e && e.All(ch => char.IsAsciiLetterLower(ch) || char.IsAsciiDigit(ch) || ch == '_') ? $" ({e})" : string.Empty;

    private static KheishError Bad(string code, string message) => KheishError.BadRequest(code, message);

    private static KheishError Unavailable(string code, string message) => KheishError.Unavailable(code, message);
}
