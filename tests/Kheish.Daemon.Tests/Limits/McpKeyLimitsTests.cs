using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Egress;
using Kheish.Daemon.Tests.Mcp;
using Kheish.Daemon.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Kheish.Daemon.Tests.Limits;

/// <summary>The same per-key limits hold on <c>/mcp</c>: every JSON-RPC POST is held to the rate and concurrency limits; a request budget counts the tool calls made upstream.</summary>
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

    [Test]
    public async Task Mcp_tool_calls_count_against_a_request_budget_and_the_count_survives_a_restart()
    {
        if (McpHarness.NodeModules() is null) { Skip.Test("MCP npm peers are not installed (run scripts/test-deps.sh)"); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        string key = await BudgetKeyAsync(h, requestsPerDay: 2);

        // Initialize, list and two calls: only the two tool calls made upstream count.
        await using (McpClient client = await ClientAsync(h, key))
        {
            await client.ListToolsAsync();
            for (int i = 0; i < 2; i++)
            {
                CallToolResult ok = await client.CallToolAsync("everything__echo", new Dictionary<string, object?> { ["message"] = $"call {i}" });
                await Assert.That(ok.IsError ?? false).IsFalse();
            }
        }

        using var agent = new HttpClient { BaseAddress = h.Daemon.BaseUri };
        agent.DefaultRequestHeaders.Add("X-API-Key", key);
        await Assert.That(await CodeOfPostAsync(agent, h.McpUri)).IsEqualTo("budget_exhausted");

        await h.RestartAsync(kill: false);
        using var again = new HttpClient { BaseAddress = h.Daemon.BaseUri };
        again.DefaultRequestHeaders.Add("X-API-Key", key);
        string? code = await CodeOfPostAsync(again, h.McpUri);
        for (var wait = System.Diagnostics.Stopwatch.StartNew(); code == "usage_restoring" && wait.Elapsed < TimeSpan.FromSeconds(30); code = await CodeOfPostAsync(again, h.McpUri))
        {
            await Task.Delay(100);
        }

        await Assert.That(code).IsEqualTo("budget_exhausted").Because("the two calls were read back from the ledger");
    }

    [Test]
    public async Task Mcp_tool_calls_in_flight_together_cannot_pass_a_request_budget()
    {
        if (McpHarness.NodeModules() is null) { Skip.Test("MCP npm peers are not installed (run scripts/test-deps.sh)"); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        string key = await BudgetKeyAsync(h, requestsPerDay: 2);

        await using McpClient client = await ClientAsync(h, key);

        // Five slow calls at once with two requests left: every POST passes the budget check at
        // the door (nothing is counted yet), and only two may go out.
        var calls = Enumerable.Range(0, 5).Select(_ => client.CallToolAsync(
            "everything__trigger-long-running-operation", new Dictionary<string, object?> { ["duration"] = 2, ["steps"] = 1 }).AsTask()).ToList();
        int sent = 0;
        var refusals = new List<string>();
        foreach (Task<CallToolResult> call in calls)
        {
            try
            {
                CallToolResult result = await call.WaitAsync(TimeSpan.FromSeconds(60));
                await Assert.That(result.IsError ?? false).IsFalse();
                sent++;
            }
            catch (ModelContextProtocol.McpProtocolException ex)
            {
                refusals.Add(ex.Message);
            }
        }

        await Assert.That(sent).IsEqualTo(2).Because(string.Join(" | ", refusals));
        await Assert.That(refusals.Count).IsEqualTo(3);
        await Assert.That(refusals.All(m => m.Contains("budget of 2 requests for today", StringComparison.Ordinal))).IsTrue().Because(string.Join(" | ", refusals));
        CliResult records = await h.OfflineAsync("-o", "json", "runs", "verify", "--all");
        await Assert.That(records.ExitCode).IsEqualTo(0).Because(records.ToString());
    }

    [Test]
    [Arguments("2026-07-28")]
    [Arguments("2025-11-25")]
    public async Task A_client_calling_one_tool_after_another_never_meets_its_own_max_concurrent_slot(string revision)
    {
        if (McpHarness.NodeModules() is null) { Skip.Test("MCP npm peers are not installed (run scripts/test-deps.sh)"); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        string key = await KeyAsync(h, "--max-concurrent", "1");
        // Stateless (2026-07-28) and an initialize session (2025-11-25): the answer goes out on the
        // POST either way.
        await using McpClient client = await ClientAsync(h, key, revision);

        // Each call is sent the moment the previous answer arrived. The slot used to be given back
        // only after the POST's response had ended, which the client does not wait for: the next
        // call could find the previous one still in flight and get concurrency_limited_key.
        var refusals = new List<string>();
        for (int i = 0; i < 200; i++)
        {
            try
            {
                CallToolResult ok = await client.CallToolAsync("everything__echo", new Dictionary<string, object?> { ["message"] = $"call {i}" });
                await Assert.That(ok.IsError ?? false).IsFalse();
            }
            catch (Exception ex) when (ex is ModelContextProtocol.McpException or HttpRequestException)
            {
                refusals.Add($"call {i}: {ex.Message}");
            }
        }

        await Assert.That(refusals).IsEmpty().Because(string.Join(" | ", refusals));
    }

    /// <summary>A new API key with a daily request budget, made with the CLI as an operator would.</summary>
    private static Task<string> BudgetKeyAsync(McpHarness h, int requestsPerDay) =>
        KeyAsync(h, "--budget-requests-per-day", requestsPerDay.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>A new API key with the given limit options, made with the CLI as an operator would.</summary>
    private static async Task<string> KeyAsync(McpHarness h, params string[] limits)
    {
        CliResult made = await Support.Cli.RunAsync(
            ["security", "generate-key", "--project-root", h.Project, "--principal", "agent:limited", .. limits, "-o", "json"], h.Env);
        McpHarness.Require(made.ExitCode == 0, made.ToString());
        using JsonDocument doc = JsonDocument.Parse(made.Stdout);
        return doc.RootElement.GetProperty("key").GetString()!;
    }

    /// <summary>The MCP SDK's client on the gateway, with the key.</summary>
    private static Task<McpClient> ClientAsync(McpHarness h, string key, string? revision = null) =>
        McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = h.McpUri,
                TransportMode = HttpTransportMode.StreamableHttp,
                AdditionalHeaders = new Dictionary<string, string> { ["X-API-Key"] = key },
            }),
            new McpClientOptions { ProtocolVersion = revision, DiscoverProbeTimeout = TimeSpan.FromSeconds(30), InitializationTimeout = TimeSpan.FromSeconds(60) });

    /// <summary>The problem code of an initialize POST to /mcp, or null when it was not refused.</summary>
    private static async Task<string?> CodeOfPostAsync(HttpClient agent, Uri mcp)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, mcp) { Content = new StringContent(Initialize, Encoding.UTF8, "application/json") };
        request.Headers.Add("Accept", "application/json, text/event-stream");
        using HttpResponseMessage r = await agent.SendAsync(request);
        if (r.IsSuccessStatusCode)
        {
            return null;
        }

        using JsonDocument doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("code").GetString();
    }
}
