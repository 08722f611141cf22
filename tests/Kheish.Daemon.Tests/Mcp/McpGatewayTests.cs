using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Kheish.Daemon.Tests.Mcp;

/// <summary>The /mcp gateway end to end: real daemon, real upstreams, real MCP clients.</summary>
public sealed class McpGatewayTests
{
    private static bool NoPeers(out string reason) => McpHarness.NoPeers(out reason);

    private static string TextOf(JsonElement result) =>
        string.Concat(result.GetProperty("content").EnumerateArray().Select(c => c.TryGetProperty("text", out JsonElement t) ? t.GetString() : ""));

    [Test]
    public async Task Stdio_child_sees_only_its_allowed_environment_and_its_injected_secret_comes_back_redacted()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();

        using JsonDocument doc = await h.TsClientAsync(h.ApiKey, "everything__get-env");
        JsonElement root = doc.RootElement;
        await Assert.That(root.GetProperty("tools").EnumerateArray().Select(t => t.GetString()!).ToArray()).Contains("everything__get-env");
        McpHarness.Require(!root.TryGetProperty("error", out JsonElement err), err.ToString());
        string envText = TextOf(root.GetProperty("result"));
        using JsonDocument env = JsonDocument.Parse(envText);
        string[] names = [.. env.RootElement.EnumerateObject().Select(p => p.Name)];

        await Assert.That(env.RootElement.GetProperty("EVERYTHING_TOKEN").GetString()).IsEqualTo("[redacted:mcp.everything.EVERYTHING_TOKEN]");
        await Assert.That(env.RootElement.GetProperty("PLAIN_SETTING").GetString()).IsEqualTo("visible-plain");
        await Assert.That(names).Contains("PATH");
        // Nothing else of the daemon's environment: no master key, no canary, no KHEISH_* at all.
        await Assert.That(names.Any(n => n.StartsWith("KHEISH_", StringComparison.Ordinal) || n == "XDG_CONFIG_HOME")).IsFalse();
        string[] allowed = ["PATH", "HOME", "LANG", "TMPDIR", "TMP", "TEMP", "PLAIN_SETTING", "EVERYTHING_TOKEN"];
        await Assert.That(names.Where(n => !allowed.Contains(n)).ToArray()).IsEmpty();

        // Ledger: started then completed, tagged with the run id the client sent.
        CliResult records = await h.SettledActionsAsync("run-ts");
        McpHarness.Require(records.ExitCode == 0, records.ToString());
        using JsonDocument ledger = JsonDocument.Parse(records.Stdout);
        var mine = ledger.RootElement.GetProperty("external_actions").EnumerateArray()
            .Where(r => r.GetProperty("kind").GetString() == "mcp_tool_call").ToList();
        await Assert.That(mine.Select(r => r.GetProperty("phase").GetString()!).ToArray()).IsEquivalentTo(["started", "completed"], CollectionOrdering.Matching);
        await Assert.That(mine.All(r => r.GetProperty("target").GetString() == "everything/get-env")).IsTrue();
        await Assert.That(mine.All(r => r.GetProperty("principal_id").GetString() == "agent:coder")).IsTrue();
        await Assert.That(mine[0].TryGetProperty("grant_id", out _)).IsTrue();
        await Assert.That(mine[1].GetProperty("outcome").GetString()).IsEqualTo("ok");
        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot], h.Env);
        McpHarness.Require(verify.ExitCode == 0, verify.ToString());

        await h.AssertNoLeaksAsync(doc.RootElement.GetRawText(), records.Stdout);
    }

    [Test]
    public async Task Calls_to_names_the_upstream_does_not_list_re_read_its_list_at_most_once_a_second()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync(withHttp: true);
        await using McpClient client = await Connect(h, h.ApiKey, "2026-07-28");
        async Task<int> ListedAsync() =>
            int.Parse(((TextContentBlock)(await client.CallToolAsync("http__tools-listed")).Content[0]).Text, System.Globalization.CultureInfo.InvariantCulture);

        // Each made-up name used to send one tools/list upstream; 40 of them, 10 at a time, now
        // cost at most one re-read per second between them.
        int before = await ListedAsync();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int round = 0; round < 4; round++)
        {
            Task[] calls = [.. Enumerable.Range(0, 10).Select(i => client.CallToolAsync($"http__made-up-{round}-{i}").AsTask())];
            foreach (Task call in calls)
            {
                var refused = await Assert.That(async () => await call).Throws<ModelContextProtocol.McpProtocolException>();
                await Assert.That(refused!.Message).Contains("has no tool named `made-up-");
            }
        }

        double seconds = clock.Elapsed.TotalSeconds;
        int rereads = await ListedAsync() - before;
        await Assert.That(rereads).IsGreaterThanOrEqualTo(1);
        await Assert.That(rereads).IsLessThanOrEqualTo((int)Math.Ceiling(seconds) + 1).Because($"{rereads} tools/list sent upstream in {seconds:F2} s");

        // A tool the upstream adds is still found once the interval has passed.
        await client.CallToolAsync("http__enable-late");
        await Task.Delay(TimeSpan.FromSeconds(1.2));
        CallToolResult late = await client.CallToolAsync("http__late");
        await Assert.That(((TextContentBlock)late.Content[0]).Text).IsEqualTo("late answered");
    }

    [Test]
    [Arguments("2026-07-28")]
    [Arguments("2025-11-25")]
    public async Task Csharp_sdk_client_calls_an_http_upstream_whose_bearer_is_injected_from_the_slot(string revision)
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync(withHttp: true);

        // The upstream really requires the token.
        using (var direct = new HttpClient())
        {
            using HttpResponseMessage refused = await direct.PostAsync(
                $"http://127.0.0.1:{h.HttpPort}/mcp", new StringContent("{}", Encoding.UTF8, "application/json"));
            await Assert.That(refused.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        }

        await using McpClient client = await Connect(h, h.ApiKey, revision);
        await Assert.That(client.NegotiatedProtocolVersion).IsEqualTo(revision);
        IList<McpClientTool> tools = await client.ListToolsAsync();
        await Assert.That(tools.Any(t => t.Name == "http__add")).IsTrue();
        await Assert.That(tools.Any(t => t.Name == "everything__echo")).IsTrue();

        CallToolResult sum = await client.CallToolAsync("http__add", new Dictionary<string, object?> { ["a"] = 2, ["b"] = 3 });
        await Assert.That(((TextContentBlock)sum.Content[0]).Text).IsEqualTo("5");

        CallToolResult echoed = await client.CallToolAsync("http__echo-auth");
        string text = ((TextContentBlock)echoed.Content[0]).Text;
        await Assert.That(text).IsEqualTo("you sent: Bearer [redacted:mcp.http.TOKEN]");

        using HttpClient admin = h.Admin();
        string runtime = await admin.GetStringAsync("/v1/runtime");
        using JsonDocument rt = JsonDocument.Parse(runtime);
        JsonElement http = rt.RootElement.GetProperty("mcp").GetProperty("servers").EnumerateArray().Single(s => s.GetProperty("server").GetString() == "http");
        await Assert.That(http.GetProperty("connected").GetBoolean()).IsTrue();
        await Assert.That(http.GetProperty("uses_credentials").GetBoolean()).IsTrue();
        await Assert.That(http.GetProperty("credential_secret_refs").EnumerateArray().Select(e => e.GetString()!).ToArray()).IsEquivalentTo(["mcp.http.TOKEN"], CollectionOrdering.Matching);
        await Assert.That(rt.RootElement.GetProperty("mcp").GetProperty("redactions").GetInt64() >= 1).IsTrue();
        await Assert.That(await h.Daemon.LogsContainingAsync("redacted")).Contains("redacted");

        await h.AssertNoLeaksAsync(text, runtime);
    }

    private static Task<McpClient> Connect(McpHarness h, string key, string revision) =>
        McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = h.McpUri,
                TransportMode = HttpTransportMode.StreamableHttp,
                AdditionalHeaders = new Dictionary<string, string> { ["X-API-Key"] = key, ["X-Kheish-Run-Id"] = "run-cs" },
            }),
            // The server/discover probe waits 5 s by default; a loaded 2-core machine can exceed that.
            new McpClientOptions { ProtocolVersion = revision, DiscoverProbeTimeout = TimeSpan.FromSeconds(30), InitializationTimeout = TimeSpan.FromSeconds(60) });

    [Test]
    public async Task A_key_whose_scope_denies_a_server_sees_none_of_its_tools_and_cannot_call_them()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();

        using JsonDocument doc = await h.TsClientAsync(h.DeniedKey, "everything__echo", """{"message":"hi"}""", runId: "run-denied");
        await Assert.That(doc.RootElement.GetProperty("tools").GetArrayLength()).IsEqualTo(0);
        string error = doc.RootElement.GetProperty("error").GetString()!;
        await Assert.That(error).Contains("no tool named `everything__echo` is available");
        await Assert.That(doc.RootElement.GetProperty("code").GetInt32()).IsEqualTo(-32602);

        await using McpClient cs = await Connect(h, h.DeniedKey, "2026-07-28");
        await Assert.That((await cs.ListToolsAsync()).Count).IsEqualTo(0);
        await Assert.That(async () => await cs.CallToolAsync("everything__echo", new Dictionary<string, object?> { ["message"] = "x" })).Throws<ModelContextProtocol.McpProtocolException>();

        // Refused before the ledger: nothing recorded for that run.
        CliResult records = await h.OfflineAsync("-o", "json", "runs", "external-actions", "run-denied");
        await Assert.That(records.ExitCode).IsNotEqualTo(0);
    }

    [Test]
    public async Task A_call_to_a_tool_the_upstream_does_not_list_is_refused_naming_it_and_writes_nothing_to_the_ledger()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();

        // The TypeScript SDK client: a proper JSON-RPC error naming the unknown tool.
        using JsonDocument doc = await h.TsClientAsync(h.ApiKey, "everything__no-such-tool", """{"message":"hi"}""", runId: "run-unknown");
        McpHarness.Require(doc.RootElement.TryGetProperty("error", out JsonElement err), doc.RootElement.GetRawText());
        await Assert.That(err.GetString()!).Contains("mcp server `everything` has no tool named `no-such-tool`");
        await Assert.That(doc.RootElement.GetProperty("code").GetInt32()).IsEqualTo(-32602);

        // An oversized, odd name is refused without being echoed, in the answer or the logs
        // (2025-11-25: the name travels only in the body, no Mcp-Name header).
        string odd = "bogus" + new string('x', 4000) + "\u001b[31m";
        await using McpClient cs = await Connect(h, h.ApiKey, "2025-11-25");
        var refused = await Assert.That(async () => await cs.CallToolAsync("everything__" + odd)).Throws<ModelContextProtocol.McpProtocolException>();
        await Assert.That(refused!.Message).Contains("has no tool named `<unprintable>`");
        await Assert.That(refused.Message.Contains("xxxxxxxxxx", StringComparison.Ordinal)).IsFalse();

        // The control plane takes the same path: 404 naming the tool.
        using HttpClient admin = h.Admin();
        admin.DefaultRequestHeaders.Add("X-Kheish-Run-Id", "run-unknown");
        using HttpResponseMessage cp = await admin.PostAsync("/v1/runtime/mcp/tools/everything__no-such-tool/call",
            new StringContent("""{"arguments":{}}""", Encoding.UTF8, "application/json"));
        string cpBody = await cp.Content.ReadAsStringAsync();
        await Assert.That(cp.StatusCode).IsEqualTo(HttpStatusCode.NotFound);
        await Assert.That(cpBody).Contains("mcp_tool_not_found");

        // Nothing went out, so nothing was recorded for that run; a listed tool still works.
        CliResult records = await h.OfflineAsync("-o", "json", "runs", "external-actions", "run-unknown");
        await Assert.That(records.ExitCode).IsNotEqualTo(0).Because(records.ToString());
        CallToolResult ok = await cs.CallToolAsync("everything__echo", new Dictionary<string, object?> { ["message"] = "still here" });
        await Assert.That(((TextContentBlock)ok.Content[0]).Text).Contains("still here");
        await Assert.That(h.Daemon.Logs.Contains("xxxxxxxxxx", StringComparison.Ordinal)).IsFalse();
        await Assert.That(h.Daemon.Logs.Contains("no-such-tool", StringComparison.Ordinal)).IsFalse();
        await h.AssertNoLeaksAsync(doc.RootElement.GetRawText(), refused.Message, cpBody);
    }

    [Test]
    public async Task A_tool_the_upstream_added_after_connecting_is_found_by_refreshing_its_list()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync(withHttp: true);
        await using McpClient client = await Connect(h, h.ApiKey, "2026-07-28");
        await Assert.That((await client.ListToolsAsync()).Any(t => t.Name == "http__late")).IsFalse();

        CallToolResult enabled = await client.CallToolAsync("http__enable-late");
        await Assert.That(((TextContentBlock)enabled.Content[0]).Text).IsEqualTo("late enabled");
        CallToolResult late = await client.CallToolAsync("http__late");
        await Assert.That(((TextContentBlock)late.Content[0]).Text).IsEqualTo("late answered");
        await Assert.That((await client.ListToolsAsync()).Any(t => t.Name == "http__late")).IsTrue();

        CliResult records = await h.SettledActionsAsync("run-cs");
        McpHarness.Require(records.ExitCode == 0, records.ToString());
        using JsonDocument ledger = JsonDocument.Parse(records.Stdout);
        string[] targets = [.. ledger.RootElement.GetProperty("external_actions").EnumerateArray()
            .Where(r => r.GetProperty("phase").GetString() == "completed").Select(r => r.GetProperty("target").GetString()!)];
        await Assert.That(targets).IsEquivalentTo(["http/enable-late", "http/late"], CollectionOrdering.Matching);
    }

    [Test]
    [Arguments("2026-07-28")]
    [Arguments("2025-11-25")]
    public async Task Resource_templates_are_aggregated_gateway_named_private_and_readable_once_expanded(string revision)
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        await using McpClient client = await Connect(h, h.ApiKey, revision);

        ListResourceTemplatesResult list = await client.ListResourceTemplatesAsync(new ListResourceTemplatesRequestParams());
        ResourceTemplate text = list.ResourceTemplates.Single(t => t.Name == "everything__Dynamic Text Resource");
        await Assert.That(list.ResourceTemplates.All(t => t.Name.StartsWith("everything__", StringComparison.Ordinal))).IsTrue();
        await Assert.That(list.ResourceTemplates.All(t => t.UriTemplate.StartsWith("kheish-mcp://everything/", StringComparison.Ordinal))).IsTrue();
        await Assert.That(text.UriTemplate).EndsWith("{resourceId}");
        if (revision == "2026-07-28")
        {
            await Assert.That(list.CacheScope).IsEqualTo(CacheScope.Private);
        }

        // A client expands the gateway's template; the read reaches the upstream's own resource.
        string uri = text.UriTemplate.Replace("{resourceId}", "7", StringComparison.Ordinal);
        ReadResourceResult read = await client.ReadResourceAsync(uri);
        await Assert.That(read.Contents.Count).IsGreaterThanOrEqualTo(1);
        await Assert.That(read.Contents[0].Uri).IsEqualTo(uri);
        await Assert.That(((TextResourceContents)read.Contents[0]).Text).Contains("7");

        // A key whose scope denies the server sees none of its templates.
        await using McpClient denied = await Connect(h, h.DeniedKey, revision);
        await Assert.That((await denied.ListResourceTemplatesAsync(new ListResourceTemplatesRequestParams())).ResourceTemplates.Count).IsEqualTo(0);
        await h.AssertNoLeaksAsync(text.UriTemplate, ((TextResourceContents)read.Contents[0]).Text);
    }

    [Test]
    public async Task No_key_gets_a_401_and_a_wrong_key_cannot_ride_another_keys_session()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        using HttpClient anonymous = h.Daemon.Client();
        using HttpResponseMessage noKey = await anonymous.PostAsync("/mcp", new StringContent("{}", Encoding.UTF8, "application/json"));
        await Assert.That(noKey.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);

        // Open a 2025-11-25 session with one key, then present its session id with the other key.
        await using McpClient owner = await Connect(h, h.ApiKey, "2025-11-25");
        string sessionId = owner.SessionId!;
        using var hijack = new HttpRequestMessage(HttpMethod.Post, "/mcp")
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}""", Encoding.UTF8, "application/json"),
        };
        hijack.Headers.Add("X-API-Key", h.DeniedKey);
        hijack.Headers.Add("Mcp-Session-Id", sessionId);
        hijack.Headers.Add("MCP-Protocol-Version", "2025-11-25");
        hijack.Headers.Accept.ParseAdd("application/json");
        hijack.Headers.Accept.ParseAdd("text/event-stream");
        using HttpResponseMessage answer = await anonymous.SendAsync(hijack);
        await Assert.That(answer.StatusCode).IsEqualTo(HttpStatusCode.Forbidden);
    }

    [Test]
    public async Task A_stdio_server_killed_mid_call_fails_the_call_records_failed_and_is_restarted()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        using HttpClient admin = h.Admin();
        admin.DefaultRequestHeaders.Add("X-Kheish-Run-Id", "run-crash");

        Task<HttpResponseMessage> longCall = admin.PostAsync("/v1/runtime/mcp/tools/everything__trigger-long-running-operation/call",
            new StringContent("""{"arguments":{"duration":30,"steps":5}}""", Encoding.UTF8, "application/json"));
        int pid = await WaitForPidAsync(admin);
        await Task.Delay(1000);
        Process.GetProcessById(pid).Kill();

        using HttpResponseMessage failed = await longCall.WaitAsync(TimeSpan.FromSeconds(20));
        string body = await failed.Content.ReadAsStringAsync();
        await Assert.That(failed.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        await Assert.That(body).Contains("mcp_server_failed");

        CliResult records = await h.OfflineAsync("-o", "json", "runs", "external-actions", "run-crash");
        using (JsonDocument ledger = JsonDocument.Parse(records.Stdout))
        {
            await Assert.That(ledger.RootElement.GetProperty("external_actions").EnumerateArray().Select(r => r.GetProperty("phase").GetString()!).ToArray()).IsEquivalentTo(["started", "failed"], CollectionOrdering.Matching);
        }

        // The crash is counted (a slow restart may count more than one attempt), and the next call
        // works on a new process.
        int restarts = 0;
        for (int i = 0; i < 100 && restarts == 0; i++)
        {
            await Task.Delay(200);
            restarts = (await ServerAsync(admin, "everything")).GetProperty("restarts").GetInt32();
        }

        await Assert.That(restarts).IsGreaterThanOrEqualTo(1);
        // While the backoff runs the daemon answers 503 mcp_server_restarting ("retry in N s").
        HttpResponseMessage ok;
        string okBody;
        int tries = 0;
        do
        {
            ok = await admin.PostAsync("/v1/runtime/mcp/tools/everything__echo/call",
                new StringContent("""{"arguments":{"message":"again"}}""", Encoding.UTF8, "application/json"));
            okBody = await ok.Content.ReadAsStringAsync();
            if (ok.IsSuccessStatusCode || !okBody.Contains("mcp_server_restarting", StringComparison.Ordinal))
            {
                break;
            }

            ok.Dispose();
            await Task.Delay(250);
        }
        while (++tries < 120);

        using (ok)
        {
            McpHarness.Require(ok.IsSuccessStatusCode, okBody);
        }

        await Assert.That(okBody).Contains("again");
        JsonElement after = await ServerAsync(admin, "everything");
        await Assert.That(after.TryGetProperty("pid", out JsonElement newPid) && newPid.GetInt32() != pid).IsTrue()
            .Because($"the server answering after the crash must be a new process (old pid {pid}): {after}");
        await h.AssertNoLeaksAsync(body, okBody, records.Stdout);
    }

    [Test]
    public async Task Killing_the_daemon_with_sigkill_leaves_no_stdio_child_behind()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        using HttpClient admin = h.Admin();
        using HttpResponseMessage ok = await admin.PostAsync("/v1/runtime/mcp/tools/everything__echo/call",
            new StringContent("""{"arguments":{"message":"start"}}""", Encoding.UTF8, "application/json"));
        McpHarness.Require(ok.IsSuccessStatusCode, await ok.Content.ReadAsStringAsync());
        int pid = await WaitForPidAsync(admin);
        await Assert.That(Directory.Exists($"/proc/{pid}")).IsTrue();

        await h.Daemon.StopAsync(kill: true);
        bool gone = false;
        for (int i = 0; i < 50 && !gone; i++)
        {
            gone = !Support.ProcessProbe.Alive(pid);
            await Task.Delay(100);
        }

        McpHarness.Require(gone, $"stdio child {pid} survived kill -9 of the daemon");
    }

    [Test]
    public async Task Graceful_shutdown_stops_the_children()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        using HttpClient admin = h.Admin();
        using HttpResponseMessage ok = await admin.PostAsync("/v1/runtime/mcp/tools/everything__echo/call",
            new StringContent("""{"arguments":{"message":"start"}}""", Encoding.UTF8, "application/json"));
        await Assert.That(ok.IsSuccessStatusCode).IsTrue();
        int pid = await WaitForPidAsync(admin);
        int exit = await h.Daemon.StopAsync();
        McpHarness.Require(exit == 0, $"exit {exit}\n{h.Daemon.Logs}");
        McpHarness.Require(!Support.ProcessProbe.Alive(pid), "child survived a graceful stop");
    }

    private static async Task<JsonElement> ServerAsync(HttpClient admin, string name)
    {
        using JsonDocument doc = JsonDocument.Parse(await admin.GetStringAsync("/v1/runtime/mcp/servers"));
        return doc.RootElement.GetProperty("servers").EnumerateArray().Single(s => s.GetProperty("server").GetString() == name).Clone();
    }

    private static async Task<int> WaitForPidAsync(HttpClient admin)
    {
        for (int i = 0; i < 150; i++)
        {
            JsonElement s = await ServerAsync(admin, "everything");
            if (s.TryGetProperty("pid", out JsonElement p))
            {
                return p.GetInt32();
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("the everything server never started");
    }
}
