using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Egress;

namespace Kheish.Daemon.Tests.Limits;

/// <summary>The same per-key limits hold on <c>/mcp</c>: every JSON-RPC POST is a call.</summary>
public sealed class McpKeyLimitsTests
{
    private const string Initialize =
        """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}""";

    private static Task<HttpResponseMessage> PostAsync(HttpClient agent)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent(Initialize, Encoding.UTF8, "application/json") };
        request.Headers.Add("Accept", "application/json, text/event-stream");
        return agent.SendAsync(request);
    }

    [Test]
    public async Task Mcp_posts_count_against_the_rate_limit_and_get_429_with_retry_after()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(keyArgs: ["--rate-limit", "1"]);
        using HttpClient agent = h.Agent();

        HttpResponseMessage first = await PostAsync(agent);
        await Assert.That(first.StatusCode).IsNotEqualTo(HttpStatusCode.TooManyRequests);
        HttpResponseMessage second = await PostAsync(agent);
        await Assert.That(second.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
        using (JsonDocument doc = JsonDocument.Parse(await second.Content.ReadAsStringAsync()))
        {
            await Assert.That(doc.RootElement.GetProperty("code").GetString()).IsEqualTo("rate_limited_key");
        }

        int retryAfter = int.Parse(second.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        await Assert.That(retryAfter).IsBetween(1, 60);

        // whoami is not a metered call: the empty bucket does not touch it.
        await Assert.That((await agent.GetAsync("/agent/v1/whoami")).StatusCode).IsEqualTo(HttpStatusCode.OK);
    }
}
