using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Kheish.Core.Errors;
using Kheish.Daemon.Http;

namespace Kheish.Daemon.Client;

/// <summary>
/// The online CLI's view of a running daemon. Secret values travel only in request bodies.
/// HTTP failures come back as <see cref="KheishError"/>s whose kind follows the status
/// (401/403 → auth, 404 → not found, 409 → conflict, 400/413 → bad request, 429/503 →
/// retryable), carrying the daemon's problem code and detail.
/// </summary>
internal sealed class DaemonClient : IDisposable
{
    private readonly HttpClient _http;

    public DaemonClient(Uri baseUri, string? token, TimeSpan? timeout = null)
    {
        BaseUri = baseUri;
        _http = new HttpClient { BaseAddress = baseUri, Timeout = timeout ?? TimeSpan.FromSeconds(30) };
        if (token is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    public Uri BaseUri { get; }

    public Task<Result<TResponse>> GetAsync<TResponse>(string path, JsonTypeInfo<TResponse> responseType, CancellationToken ct) =>
        SendAsync(HttpMethod.Get, path, null, responseType, ct);

    public async Task<Result<TResponse>> SendAsync<TResponse>(
        HttpMethod method, string path, HttpContent? content, JsonTypeInfo<TResponse> responseType, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        if (!(await TrySendAsync(request, ct)).TryGetValue(out HttpResponseMessage? response, out KheishError? failed))
        {
            return failed;
        }

        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                try
                {
                    await using Stream body = await response.Content.ReadAsStreamAsync(ct);
                    TResponse? value = await JsonSerializer.DeserializeAsync(body, responseType, ct);
                    return value is null ? SchemaMismatch("an empty body") : value;
                }
                catch (JsonException)
                {
                    return SchemaMismatch("a body this CLI version does not understand");
                }
            }

            return await ErrorFromAsync(response, ct);
        }
    }

    /// <summary>Sends; an unreachable daemon or a timeout becomes the error the CLI prints.</summary>
    private async Task<Result<HttpResponseMessage>> TrySendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        try
        {
            return await _http.SendAsync(request, ct);
        }
        catch (HttpRequestException ex) when (ex.InnerException is SocketException || ex.HttpRequestError == HttpRequestError.ConnectionError)
        {
            return Unreachable();
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return new KheishError("daemon_timeout", ErrorKind.Unavailable, $"the daemon at {BaseUri} did not answer within {_http.Timeout.TotalSeconds:0} s; retry (or give a longer --timeout-sec where the verb has one)");
        }
    }

    /// <summary>GET returning a text body (checkpoints and receipts are text formats).</summary>
    public async Task<Result<string>> GetTextAsync(string path, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (!(await TrySendAsync(request, ct)).TryGetValue(out HttpResponseMessage? response, out KheishError? failed))
        {
            return failed;
        }

        using (response)
        {
            return response.IsSuccessStatusCode
                ? await response.Content.ReadAsStringAsync(ct)
                : await ErrorFromAsync(response, ct);
        }
    }

    public static HttpContent Json<T>(T value, JsonTypeInfo<T> type) =>
        new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(value, type))
        {
            Headers = { ContentType = new MediaTypeHeaderValue("application/json") },
        };

    /// <summary>
    /// Resolves the client options: --token / --token-file, else KHEISH_DAEMON_TOKEN / _FILE
    /// (value and file together = error), else — for a loopback daemon only — the admin token
    /// the daemon minted into the state root (<paramref name="mintedTokenFile"/>), so the token
    /// never travels to a daemon on another machine.
    /// </summary>
    /// <param name="baseUrlSource">Where the URL came from (<c>--base-url</c> or <c>KHEISH_DAEMON_URL</c>), named in errors.</param>
    public static Result<DaemonClient> Create(string baseUrl, string? token, string? tokenFile, Func<string, string?> getEnv, string? mintedTokenFile = null, string baseUrlSource = "--base-url", TimeSpan? timeout = null)
    {
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return KheishError.BadRequest("invalid_base_url", $"{baseUrlSource} '{baseUrl}' is not an http(s) URL");
        }

        bool tokenFileFromEnv = tokenFile is null && token is null;

        if (!Http.ControlPlane.TokenInputs.Resolve("the control-plane token", "--token", token, tokenFile, "KHEISH_DAEMON_TOKEN", getEnv)
                .TryGetValue(out var input, out KheishError? conflict))
        {
            return conflict;
        }

        (token, tokenFile) = input;

        if (token is null && tokenFile is null && mintedTokenFile is not null && IsLoopback(uri) && File.Exists(mintedTokenFile))
        {
            tokenFile = mintedTokenFile;
        }

        if (tokenFile is not null)
        {
            try
            {
                token = File.ReadAllText(tokenFile).Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                string from = tokenFile == mintedTokenFile ? " (the daemon's minted admin token)" : tokenFileFromEnv ? " (from KHEISH_DAEMON_TOKEN_FILE)" : "";
                return KheishError.BadRequest("token_file_unreadable", $"cannot read the token file {tokenFile}{from}: {IoReason.Of(ex)}");
            }
        }

        return new DaemonClient(uri, string.IsNullOrWhiteSpace(token) ? null : token.Trim(), timeout);
    }

    public void Dispose() => _http.Dispose();

    private static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.IdnHost, out IPAddress? ip) && IPAddress.IsLoopback(ip));

    private KheishError Unreachable() => new(
        "daemon_unreachable",
        ErrorKind.Unreachable,
        $"no daemon reachable at {BaseUri} (start one with 'kheish-daemon serve', set --base-url, or use --offline to work on the state root directly)");

    private static KheishError SchemaMismatch(string what) => new(
        "schema_mismatch", ErrorKind.SchemaMismatch, $"the daemon answered with {what}; are the CLI and daemon the same version?");

    private static async Task<KheishError> ErrorFromAsync(HttpResponseMessage response, CancellationToken ct)
    {
        int status = (int)response.StatusCode;
        string code = "http_" + status;
        string detail = $"the daemon answered {status} {response.ReasonPhrase}";
        try
        {
            string text = await response.Content.ReadAsStringAsync(ct);
            using JsonDocument doc = JsonDocument.Parse(text);
            if (doc.RootElement.TryGetProperty("code", out JsonElement c) && c.ValueKind == JsonValueKind.String)
            {
                code = c.GetString()!;
            }

            if (doc.RootElement.TryGetProperty("detail", out JsonElement d) && d.ValueKind == JsonValueKind.String)
            {
                detail = d.GetString()!;
            }
        }
        catch (JsonException)
        {
        }

        ErrorKind kind = response.StatusCode switch
        {
            HttpStatusCode.BadRequest => ErrorKind.BadRequest,
            HttpStatusCode.RequestEntityTooLarge => ErrorKind.PayloadTooLarge,
            HttpStatusCode.Unauthorized => ErrorKind.Unauthorized,
            HttpStatusCode.Forbidden => ErrorKind.Forbidden,
            HttpStatusCode.NotFound => ErrorKind.NotFound,
            HttpStatusCode.Conflict => ErrorKind.Conflict,
            HttpStatusCode.TooManyRequests => ErrorKind.RateLimited,
            HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout => ErrorKind.Unavailable,
            _ => ErrorKind.Misconfigured,
        };
        return new KheishError(code, kind, detail);
    }
}
