using System.Buffers;
using System.Net.Http.Headers;
using System.Text.Json;
using Kheish.Core.Errors;
using Kheish.Core.Routes;
using Kheish.Core.Egress;

namespace Kheish.Core.Accounts;

/// <summary>A token endpoint's answer to a refresh, validated. <see cref="ToString"/> hides the tokens.</summary>
internal sealed record RefreshedTokens(string AccessToken, string? RefreshToken, string? IdToken, long? ExpiresInSeconds, IReadOnlyList<string>? Scopes, string? TokenType = null)
{
    public override string ToString() => $"RefreshedTokens {{ ExpiresIn = {ExpiresInSeconds}, Scopes = [{string.Join(' ', Scopes ?? [])}], Tokens = <redacted> }}";
}

/// <summary>
/// Sends one refresh-token grant the way the official CLI of the account does (JSON body,
/// <c>Content-Type: application/json</c>). Failures come back as redacted reasons: the HTTP
/// status and, when it looks like one, the OAuth <c>error</c> code; never the response body.
/// </summary>
internal sealed class TokenRefreshClient(AccountTokenEndpoints endpoints, HttpMessageHandler? handler = null) : IDisposable
{
    private const int MaxResponseBytes = 256 * 1024;

    private readonly HttpClient _http = new(handler ?? OutboundHandler.Create(TimeSpan.FromSeconds(15)))
    {
        Timeout = TimeSpan.FromSeconds(30),
    };

    public AccountTokenEndpoints Endpoints { get; } = endpoints;

    /// <summary>Where this account's refresh goes: the fixed CLI endpoint, or an MCP account's own token endpoint.</summary>
    public Uri TokenUrl(AccountState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return state.Kind == AccountKind.McpOauth && state.Mcp is { } mcp ? new Uri(mcp.TokenEndpoint) : Endpoints.TokenUrl(state.Kind);
    }

    public async Task<Result<RefreshedTokens>> RefreshAsync(AccountState state, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Kind == AccountKind.McpOauth)
        {
            return await McpOauthTokens.RefreshAsync(_http, state, ct).ConfigureAwait(false);
        }

        Uri url = Endpoints.TokenUrl(state.Kind);
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = Body(state) };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            return Failed($"the token endpoint {url.GetLeftPart(UriPartial.Authority)} could not be reached ({ex.HttpRequestError})");
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return Failed($"the token endpoint {url.GetLeftPart(UriPartial.Authority)} did not answer within 30 s");
        }

        using (response)
        {
            byte[] body;
            try
            {
                body = await ReadLimitedAsync(response.Content, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException or InvalidDataException)
            {
                return Failed($"the token endpoint answered {(int)response.StatusCode} but its body could not be read");
            }

            return response.IsSuccessStatusCode
                ? ParseSuccess(body)
                : Failed($"the token endpoint answered {(int)response.StatusCode}{OAuthErrorCode(body)}");
        }
    }

    public void Dispose() => _http.Dispose();

    private static ByteArrayContent Body(AccountState state)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            if (state.Kind == AccountKind.Codex)
            {
                // Field order and scope as codex-rs sends them.
                w.WriteString("client_id", AccountTokenEndpoints.CodexClientId);
                w.WriteString("grant_type", "refresh_token");
                w.WriteString("refresh_token", state.RefreshToken);
                w.WriteString("scope", AccountTokenEndpoints.CodexRefreshScope);
            }
            else
            {
                // Claude Code asks for the scopes it holds, never more.
                w.WriteString("grant_type", "refresh_token");
                w.WriteString("refresh_token", state.RefreshToken);
                w.WriteString("client_id", AccountTokenEndpoints.ClaudeClientId);
                w.WriteString("scope", string.Join(' ', state.Scopes));
            }

            w.WriteEndObject();
        }

        var content = new ByteArrayContent(buffer.WrittenSpan.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private static Result<RefreshedTokens> ParseSuccess(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Failed("the token response is not a JSON object");
            }

            string? access = Str(root, "access_token");
            if (access is not { Length: > 0 } || !RouteValues.IsHeaderSafe(access))
            {
                return Failed("the token response has no usable access_token");
            }

            string? refresh = Str(root, "refresh_token");
            if (refresh is not null && (refresh.Length == 0 || !RouteValues.IsHeaderSafe(refresh)))
            {
                return Failed("the token response has an unusable refresh_token");
            }

            long? expiresIn = null;
            if (root.TryGetProperty("expires_in", out JsonElement e) && e.ValueKind != JsonValueKind.Null)
            {
                if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long seconds) || seconds is < 0 or > 10L * 365 * 24 * 3600)
                {
                    return Failed("the token response has an invalid expires_in");
                }

                expiresIn = seconds;
            }

            IReadOnlyList<string>? scopes = root.TryGetProperty("scope", out JsonElement s) && s.ValueKind != JsonValueKind.Null
                ? ScopeList.FromJson(s) ?? []
                : null;
            return new RefreshedTokens(access, refresh, Str(root, "id_token"), expiresIn, scopes);
        }
        catch (JsonException)
        {
            return Failed("the token response is not valid JSON");
        }
    }

    /// <summary>" (invalid_grant)" when the body names a plain OAuth error code; otherwise nothing.</summary>
    internal static string OAuthErrorCode(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            JsonElement root = document.RootElement;
            string? code = root.ValueKind != JsonValueKind.Object ? null
                : root.TryGetProperty("error", out JsonElement e) && e.ValueKind == JsonValueKind.String ? e.GetString()
                : root.TryGetProperty("error", out e) && e.ValueKind == JsonValueKind.Object && e.TryGetProperty("code", out JsonElement c) && c.ValueKind == JsonValueKind.String ? c.GetString()
                : null;
            return code is { Length: > 0 and <= 64 } && code.All(ch => char.IsAsciiLetterLower(ch) || char.IsAsciiDigit(ch) || ch == '_')
                ? $" ({code})"
                : string.Empty;
        }
        catch (JsonException)
        {
            return string.Empty;
        }
    }

    private static async Task<byte[]> ReadLimitedAsync(HttpContent content, CancellationToken ct)
    {
        await using Stream stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > MaxResponseBytes)
            {
                throw new InvalidDataException("token response too large");
            }
        }

        return buffer.ToArray();
    }

    private static string? Str(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static KheishError Failed(string reason) => KheishError.Unavailable("account_refresh_failed", reason);
}
