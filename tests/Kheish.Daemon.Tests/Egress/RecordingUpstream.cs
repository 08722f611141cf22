using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Kheish.Daemon.Tests.Egress;

/// <summary>What the upstream received for one request.</summary>
public sealed record UpstreamRequest(string Method, string PathAndQuery, Dictionary<string, string> Headers, byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);

    public string? Header(string name) => Headers.TryGetValue(name, out string? v) ? v : null;
}

/// <summary>
/// A provider stand-in on a free loopback port (HttpListener): records every request it gets and
/// answers with <see cref="Handler"/> (default: a small OpenAI-style JSON body).
/// </summary>
public sealed class RecordingUpstream : IAsyncDisposable
{
    private readonly HttpListener _listener;
    private readonly Task _loop;

    public RecordingUpstream()
    {
        // A free port can be taken by a parallel test between the probe and Start: try again, with
        // a fresh listener (one whose Start failed keeps the half-registered prefix and throws on Stop).
        for (int attempt = 0; ; attempt++)
        {
            Port = FreePort();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            try
            {
                listener.Start();
                _listener = listener;
                break;
            }
            catch (HttpListenerException) when (attempt < 20)
            {
                try
                {
                    listener.Close();
                }
                catch (HttpListenerException)
                {
                }
            }
        }

        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    public ConcurrentQueue<UpstreamRequest> Received { get; } = new();

    /// <summary>Answers one request; the recorded request is passed in.</summary>
    public Func<UpstreamRequest, HttpListenerResponse, Task> Handler { get; set; } = DefaultAnswerAsync;

    public static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        int port = ((IPEndPoint)socket.LocalEndpoint).Port;
        socket.Stop();
        return port;
    }

    public static async Task WriteAsync(HttpListenerResponse response, string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        await response.OutputStream.WriteAsync(bytes);
        await response.OutputStream.FlushAsync();
    }

    private static async Task DefaultAnswerAsync(UpstreamRequest request, HttpListenerResponse response)
    {
        response.StatusCode = 200;
        response.ContentType = "application/json";
        byte[] bytes = Encoding.UTF8.GetBytes("{\"ok\":true}");
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes);
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(context));
        }
    }

    private async Task ServeAsync(HttpListenerContext context)
    {
        try
        {
            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (string? name in context.Request.Headers.AllKeys)
            {
                if (name is not null)
                {
                    headers[name] = context.Request.Headers[name] ?? string.Empty;
                }
            }

            var request = new UpstreamRequest(context.Request.HttpMethod, context.Request.RawUrl ?? "/", headers, body.ToArray());
            Received.Enqueue(request);
            await Handler(request, context.Response);
            context.Response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            try
            {
                context.Response.Abort();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Close alone: managed HttpListener's Stop-then-Close unregisters the prefix twice, and the
        // second time re-binds the port, which by then may belong to another test.
        try
        {
            _listener.Close();
        }
        catch (HttpListenerException)
        {
        }

        await Task.WhenAny(_loop, Task.Delay(2000));
    }
}
