// Issue 16: "evaluate YARP's IHttpForwarder against the hand-written forwarder; adopt it if it is
// AOT-clean and measurably cheaper". One native process, three listeners forwarding to the same
// upstream, so wrk can drive them in alternated rounds (scripts/bench/forwarder.sh):
//   hand        the egress proxy's forwarding as it is (EgressProxy.ForwardAsync/RelayAsync minus
//               the lease and the ledger, which are the same whichever forwarder is used): the
//               header rules of EgressHeaders, an injected credential, SHA-256 of the response
//               body, the echo redactor, a pooled buffer, a flush per read, an idle timeout.
//   yarp        IHttpForwarder with HttpTransformer.Empty: YARP's own best case, none of our
//               rules, no hashing, no redaction (the floor YARP could reach here).
//   yarp-rules  IHttpForwarder with a transformer that applies our header rules and credential,
//               and a response-body stream that hashes and redacts: what adopting it would run.
// Usage: Kheish.ForwardBench <upstream base, e.g. http://127.0.0.1:8080> <hand port> <yarp port> <yarp-rules port>
using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Kheish.Core.Egress;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

if (args.Length != 4)
{
    Console.Error.WriteLine("usage: Kheish.ForwardBench <upstream base> <hand port> <yarp port> <yarp-rules port>");
    return 2;
}

string upstream = args[0].TrimEnd('/');
int handPort = int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
int yarpPort = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
int rulesPort = int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture);
byte[] secret = Encoding.UTF8.GetBytes("sk-bench-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));

WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k =>
{
    k.Listen(IPAddress.Loopback, handPort);
    k.Listen(IPAddress.Loopback, yarpPort);
    k.Listen(IPAddress.Loopback, rulesPort);
});
builder.Services.AddHttpForwarder();
WebApplication app = builder.Build();

var hand = new HandForwarder(upstream, secret);
IHttpForwarder forwarder = app.Services.GetRequiredService<IHttpForwarder>();
var invoker = new HttpMessageInvoker(Handlers.Create());
var rules = new RulesTransformer(upstream, secret);
var config = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(100) };

app.Run(async context =>
{
    int port = context.Connection.LocalPort;
    if (port == handPort)
    {
        await hand.ForwardAsync(context);
    }
    else if (port == yarpPort)
    {
        await forwarder.SendAsync(context, upstream, invoker, config, HttpTransformer.Empty);
    }
    else
    {
        // The body is read first, as the egress proxy must (digest, model policy, size limit).
        byte[]? body = await Body.ReadAsync(context.Request, context.RequestAborted);
        if (body is not null)
        {
            context.Request.Body = new MemoryStream(body);
        }

        Stream original = context.Response.Body;
        await using var relay = new HashingRedactingStream(original, secret);
        context.Response.Body = relay;
        ForwarderError error = await forwarder.SendAsync(context, upstream, invoker, config, rules);
        await relay.FinishAsync(context.RequestAborted);
        context.Response.Body = original;
        if (error != ForwarderError.None)
        {
            context.Abort();
        }
    }
});

await app.RunAsync();
return 0;

internal static class Handlers
{
    // The egress proxy's pooled handler settings (EgressProxy.UpstreamHandler).
    public static SocketsHttpHandler Create()
    {
        SocketsHttpHandler handler = OutboundHandler.Create(TimeSpan.FromSeconds(15));
        handler.AutomaticDecompression = DecompressionMethods.None;
        handler.PooledConnectionLifetime = TimeSpan.FromMinutes(5);
        handler.PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90);
        handler.UseProxy = false;
        return handler;
    }
}

internal static class Body
{
    public static async Task<byte[]?> ReadAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength is null && request.Headers.TransferEncoding.Count == 0)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, ct);
        return buffer.ToArray();
    }
}

/// <summary>EgressProxy's header rules (BuildUpstreamRequest, CopyResponseHeaders), shared by hand and yarp-rules.</summary>
internal static class Rules
{
    public static void CopyRequest(IHeaderDictionary headers, HttpRequestMessage message, string secretText)
    {
        HashSet<string> connectionNamed = EgressHeaders.ConnectionNamed(headers.Connection);
        foreach (KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues> header in headers)
        {
            if (!EgressHeaders.ForwardRequestHeader(header.Key, connectionNamed))
            {
                continue;
            }

            if (header.Key.StartsWith("Content-", StringComparison.OrdinalIgnoreCase))
            {
                message.Content?.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string?>)header.Value);
            }
            else
            {
                message.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string?>)header.Value);
            }
        }

        message.Headers.Remove("Authorization");
        message.Headers.TryAddWithoutValidation("Authorization", "Bearer " + secretText);
    }

    public static void CopyResponse(System.Net.Http.Headers.HttpHeaders from, IHeaderDictionary to, HashSet<string> connectionNamed, string secretText)
    {
        foreach (KeyValuePair<string, System.Net.Http.Headers.HeaderStringValues> header in from.NonValidated)
        {
            if (!EgressHeaders.RelayResponseHeader(header.Key, connectionNamed))
            {
                continue;
            }

            string[] values = [.. header.Value];
            if (values.Any(v => v.Contains(secretText, StringComparison.Ordinal)))
            {
                continue;
            }

            to[header.Key] = values;
        }
    }
}

/// <summary>EgressProxy's BuildUpstreamRequest, CopyResponseHeaders and RelayAsync, without lease and ledger.</summary>
internal sealed class HandForwarder(string upstream, byte[] secret)
{
    private readonly HttpClient _client = new(Handlers.Create()) { Timeout = Timeout.InfiniteTimeSpan };
    private readonly string _secretText = Encoding.UTF8.GetString(secret);

    public async Task ForwardAsync(HttpContext context)
    {
        byte[]? body = await Body.ReadAsync(context.Request, context.RequestAborted);
        using var message = new HttpRequestMessage(new HttpMethod(context.Request.Method), upstream + context.Request.Path + context.Request.QueryString);
        if (body is not null)
        {
            message.Content = new ByteArrayContent(body);
        }

        Rules.CopyRequest(context.Request.Headers, message, _secretText);

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        cts.CancelAfter(TimeSpan.FromSeconds(100));
        using HttpResponseMessage response = await _client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        HttpResponse relay = context.Response;
        relay.StatusCode = (int)response.StatusCode;
        HashSet<string> responseConnection = EgressHeaders.ConnectionNamed(
            response.Headers.NonValidated.TryGetValues("Connection", out var connection) ? connection : default(System.Net.Http.Headers.HeaderStringValues));
        Rules.CopyResponse(response.Headers, relay.Headers, responseConnection, _secretText);
        Rules.CopyResponse(response.Content.Headers, relay.Headers, responseConnection, _secretText);
        relay.Headers["X-Kheish-Action-Id"] = "act_bench";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var redactor = new EchoRedactor(secret);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            await using Stream source = await response.Content.ReadAsStreamAsync(cts.Token);
            while (true)
            {
                cts.CancelAfter(TimeSpan.FromSeconds(100));
                int read = await source.ReadAsync(buffer, cts.Token);
                if (read == 0)
                {
                    break;
                }

                hash.AppendData(buffer, 0, read);
                ArraySegment<byte> safe = redactor.Process(buffer.AsSpan(0, read));
                if (safe.Count > 0)
                {
                    await relay.Body.WriteAsync(safe, context.RequestAborted);
                    await relay.Body.FlushAsync(context.RequestAborted);
                }
            }

            ArraySegment<byte> tail = redactor.Flush();
            if (tail.Count > 0)
            {
                await relay.Body.WriteAsync(tail, context.RequestAborted);
            }

            await relay.CompleteAsync();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        _ = hash.GetHashAndReset();
    }

}

/// <summary>Our header rules and credential inside YARP's request and response callbacks.</summary>
internal sealed class RulesTransformer(string upstream, byte[] secret) : HttpTransformer
{
    private readonly string _secretText = Encoding.UTF8.GetString(secret);

    public override ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        Rules.CopyRequest(httpContext.Request.Headers, proxyRequest, _secretText);
        proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(upstream, httpContext.Request.Path, httpContext.Request.QueryString);
        return ValueTask.CompletedTask;
    }

    public override ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        if (proxyResponse is null)
        {
            return ValueTask.FromResult(true);
        }

        HashSet<string> connectionNamed = EgressHeaders.ConnectionNamed(
            proxyResponse.Headers.NonValidated.TryGetValues("Connection", out var connection) ? connection : default(System.Net.Http.Headers.HeaderStringValues));
        Rules.CopyResponse(proxyResponse.Headers, httpContext.Response.Headers, connectionNamed, _secretText);
        Rules.CopyResponse(proxyResponse.Content.Headers, httpContext.Response.Headers, connectionNamed, _secretText);
        httpContext.Response.Headers["X-Kheish-Action-Id"] = "act_bench";
        return ValueTask.FromResult(true);
    }

}

/// <summary>The response body YARP copies into: hashed as it passes, the credential masked, a flush per write.</summary>
internal sealed class HashingRedactingStream(Stream inner, byte[] secret) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly EchoRedactor _redactor = new(secret);

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        _hash.AppendData(buffer.Span);
        ArraySegment<byte> safe = _redactor.Process(buffer.Span);
        if (safe.Count > 0)
        {
            await inner.WriteAsync(safe, cancellationToken);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public async Task FinishAsync(CancellationToken cancellationToken)
    {
        ArraySegment<byte> tail = _redactor.Flush();
        if (tail.Count > 0)
        {
            await inner.WriteAsync(tail, cancellationToken);
        }

        _ = _hash.GetHashAndReset();
    }

    public override void Flush() => inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
        }

        base.Dispose(disposing);
    }
}
