using System.Net;
using System.Net.Sockets;
using System.Text;
using Kheish.Core.Accounts;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Cli;

/// <summary>
/// The redirect listener of <c>mcp oauth login</c>: <c>http://127.0.0.1:&lt;port&gt;/callback</c>
/// (RFC 8252 loopback redirect). It answers 404 to anything else, accepts exactly one
/// <c>GET /callback</c>, checks it (state, iss, error, code) and closes: a second redirect, a
/// replay or a forged one finds nothing listening.
/// </summary>
internal sealed class LoopbackCallback : IDisposable
{
    private readonly HttpListener _listener;

    private LoopbackCallback(HttpListener listener, int port)
    {
        _listener = listener;
        RedirectUri = new Uri($"http://127.0.0.1:{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}/callback");
    }

    public Uri RedirectUri { get; }

    public static Result<LoopbackCallback> Start(int port)
    {
        if (port == 0)
        {
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
        }

        var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port.ToString(System.Globalization.CultureInfo.InvariantCulture)}/");
        try
        {
            listener.Start();
        }
        catch (HttpListenerException ex)
        {
            listener.Close();
            return KheishError.Unavailable("mcp_oauth_callback_unavailable", $"cannot listen on 127.0.0.1:{port} for the redirect ({ex.ErrorCode}); pick another --callback-port");
        }

        return new LoopbackCallback(listener, port);
    }

    public async Task<Result<string>> WaitAsync(TimeSpan timeout, McpOauthAuthorization pending, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        Task<HttpListenerContext> next = _listener.GetContextAsync();
        while (true)
        {
            try
            {
                await next.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _listener.Stop();
                return KheishError.Unavailable("mcp_oauth_timeout",
                    ct.IsCancellationRequested ? "the login was cancelled; nothing was stored" : $"no redirect arrived within {timeout.TotalSeconds:0} s (--timeout-sec); nothing was stored");
            }

            HttpListenerContext context = await next.ConfigureAwait(false);
            if (context.Request.HttpMethod != "GET" || context.Request.Url?.AbsolutePath != "/callback")
            {
                await RespondAsync(context, 404, "not found").ConfigureAwait(false);
                next = _listener.GetContextAsync();
                continue;
            }

            Result<string> code = Parse(context.Request.Url.Query) is { } query
                ? McpOauthLogin.CheckRedirect(pending, query)
                : KheishError.BadRequest("mcp_oauth_state_mismatch", "the redirect repeats a parameter (a forged redirect); nothing was stored");
            await RespondAsync(context, code.IsOk ? 200 : 400, code.IsOk
                ? "kheish-daemon: login received. You can close this window."
                : $"kheish-daemon: login refused ({code.Error!.Code}). Nothing was stored.").ConfigureAwait(false);

            // Exactly one: whatever it carried, nothing more is accepted.
            _listener.Stop();
            return code;
        }
    }

    public void Dispose() => _listener.Close();

    /// <summary>The query as a map, or null when a parameter appears twice.</summary>
    private static Dictionary<string, string>? Parse(string query)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            string key = Unescape(eq < 0 ? pair : pair[..eq]);
            string value = eq < 0 ? string.Empty : Unescape(pair[(eq + 1)..]);
            if (!map.TryAdd(key, value))
            {
                return null;
            }
        }

        return map;
    }

    private static string Unescape(string s) => Uri.UnescapeDataString(s.Replace('+', ' '));

    private static async Task RespondAsync(HttpListenerContext context, int status, string text)
    {
        try
        {
            byte[] body = Encoding.UTF8.GetBytes(text + "\n");
            context.Response.StatusCode = status;
            context.Response.ContentType = "text/plain; charset=utf-8";
            context.Response.Headers["Cache-Control"] = "no-store";
            context.Response.ContentLength64 = body.Length;
            await context.Response.OutputStream.WriteAsync(body).ConfigureAwait(false);
            context.Response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
        {
        }
    }
}
