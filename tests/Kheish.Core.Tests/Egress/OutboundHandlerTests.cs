using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Kheish.Core.Egress;

namespace Kheish.Core.Tests.Egress;

/// <summary>Requests the daemon makes itself carry none of its own trace context and follow no redirect.</summary>
public sealed class OutboundHandlerTests
{
    [Test]
    public async Task A_request_inside_an_activity_carries_no_traceparent_while_a_plain_handler_would()
    {
        using var activity = new Activity("daemon-request").SetIdFormat(ActivityIdFormat.W3C).Start();

        string plain = await RequestHeadAsync(new SocketsHttpHandler());
        string ours = await RequestHeadAsync(OutboundHandler.Create(TimeSpan.FromSeconds(5)));

        await Assert.That(plain).Contains("traceparent:").Because("the control: .NET adds it by default inside an activity");
        await Assert.That(ours).DoesNotContain("traceparent:");
        await Assert.That(ours).DoesNotContain("tracestate:");
        await Assert.That(ours).DoesNotContain("baggage:");
    }

    [Test]
    public async Task A_redirect_is_returned_not_followed()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Task serve = ServeOnceAsync(listener, $"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        using var client = new HttpClient(OutboundHandler.Create(TimeSpan.FromSeconds(5)));

        using HttpResponseMessage r = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/start"));

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Found);
        await serve;
    }

    private static async Task<string> RequestHeadAsync(SocketsHttpHandler handler)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Task<string> serve = ServeOnceAsync(listener, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        using var client = new HttpClient(handler);
        using HttpResponseMessage r = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/"));
        return (await serve).ToLowerInvariant();
    }

    private static async Task<string> ServeOnceAsync(TcpListener listener, string answer)
    {
        using TcpClient peer = await listener.AcceptTcpClientAsync();
        NetworkStream stream = peer.GetStream();
        var head = new StringBuilder();
        var buffer = new byte[4096];
        while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            int n = await stream.ReadAsync(buffer);
            if (n == 0)
            {
                break;
            }

            head.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        await stream.WriteAsync(Encoding.ASCII.GetBytes(answer));
        return head.ToString();
    }
}
