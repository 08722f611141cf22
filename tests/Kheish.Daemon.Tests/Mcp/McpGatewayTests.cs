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
    private static bool Skip(out string reason)
    {
        reason = "MCP npm peers are not installed (run scripts/test-deps.sh or set KHEISH_NODE_MODULES)";
        return McpHarness.NodeModules() is null;
    }

    private static string TextOf(JsonElement result) =>
        string.Concat(result.GetProperty("content").EnumerateArray().Select(c => c.TryGetProperty("text", out JsonElement t) ? t.GetString() : ""));

    [Fact]
    public async Task Stdio_child_sees_only_its_allowed_environment_and_its_injected_secret_comes_back_redacted()
    {
        if (Skip(out string why)) { Assert.Skip(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();

        using JsonDocument doc = await h.TsClientAsync(h.ApiKey, "everything__get-env");
        JsonElement root = doc.RootElement;
        Assert.Contains("everything__get-env", root.GetProperty("tools").EnumerateArray().Select(t => t.GetString()));
        Assert.False(root.TryGetProperty("error", out JsonElement err), err.ToString());
        string envText = TextOf(root.GetProperty("result"));
        using JsonDocument env = JsonDocument.Parse(envText);
        string[] names = [.. env.RootElement.EnumerateObject().Select(p => p.Name)];

        Assert.Equal("[redacted:mcp.everything.EVERYTHING_TOKEN]", env.RootElement.GetProperty("EVERYTHING_TOKEN").GetString());
        Assert.Equal("visible-plain", env.RootElement.GetProperty("PLAIN_SETTING").GetString());
        Assert.Contains("PATH", names);
        // Nothing else of the daemon's environment: no master key, no canary, no KHEISH_* at all.
        Assert.DoesNotContain(names, n => n.StartsWith("KHEISH_", StringComparison.Ordinal) || n == "XDG_CONFIG_HOME");
        Assert.All(names, n => Assert.Contains(n, new[] { "PATH", "HOME", "LANG", "TMPDIR", "TMP", "TEMP", "PLAIN_SETTING", "EVERYTHING_TOKEN" }
            .Concat(NodeAddedVariables)));

        // Ledger: started then completed, tagged with the run id the client sent.
        CliResult records = await h.OfflineAsync("-o", "json", "runs", "external-actions", "run-ts");
        Assert.True(records.ExitCode == 0, records.ToString());
        using JsonDocument ledger = JsonDocument.Parse(records.Stdout);
        var mine = ledger.RootElement.GetProperty("external_actions").EnumerateArray()
            .Where(r => r.GetProperty("kind").GetString() == "mcp_tool_call").ToList();
        Assert.Equal(["started", "completed"], mine.Select(r => r.GetProperty("phase").GetString()));
        Assert.All(mine, r => Assert.Equal("everything/get-env", r.GetProperty("target").GetString()));
        Assert.All(mine, r => Assert.Equal("agent:coder", r.GetProperty("principal_id").GetString()));
        Assert.True(mine[0].TryGetProperty("grant_id", out _));
        Assert.Equal("ok", mine[1].GetProperty("outcome").GetString());
        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot], h.Env);
        Assert.True(verify.ExitCode == 0, verify.ToString());

        await h.AssertNoLeaksAsync(doc.RootElement.GetRawText(), records.Stdout);
    }

    /// <summary>Variables node itself may add at startup (none expected, but not the daemon's).</summary>
    private static readonly string[] NodeAddedVariables = [];

    [Theory]
    [InlineData("2026-07-28")]
    [InlineData("2025-11-25")]
    public async Task Csharp_sdk_client_calls_an_http_upstream_whose_bearer_is_injected_from_the_slot(string revision)
    {
        if (Skip(out string why)) { Assert.Skip(why); return; }
        await using McpHarness h = await McpHarness.StartAsync(withHttp: true);

        // The upstream really requires the token.
        using (var direct = new HttpClient())
        {
            using HttpResponseMessage refused = await direct.PostAsync(
                $"http://127.0.0.1:{h.HttpPort}/mcp", new StringContent("{}", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        await using McpClient client = await Connect(h, h.ApiKey, revision);
        Assert.Equal(revision, client.NegotiatedProtocolVersion);
        IList<McpClientTool> tools = await client.ListToolsAsync();
        Assert.Contains(tools, t => t.Name == "http__add");
        Assert.Contains(tools, t => t.Name == "everything__echo");

        CallToolResult sum = await client.CallToolAsync("http__add", new Dictionary<string, object?> { ["a"] = 2, ["b"] = 3 });
        Assert.Equal("5", Assert.IsType<TextContentBlock>(sum.Content[0]).Text);

        CallToolResult echoed = await client.CallToolAsync("http__echo-auth");
        string text = Assert.IsType<TextContentBlock>(echoed.Content[0]).Text;
        Assert.Equal("you sent: Bearer [redacted:mcp.http.TOKEN]", text);

        using HttpClient admin = h.Admin();
        string runtime = await admin.GetStringAsync("/v1/runtime");
        using JsonDocument rt = JsonDocument.Parse(runtime);
        JsonElement http = rt.RootElement.GetProperty("mcp").GetProperty("servers").EnumerateArray().Single(s => s.GetProperty("server").GetString() == "http");
        Assert.True(http.GetProperty("connected").GetBoolean());
        Assert.True(http.GetProperty("uses_credentials").GetBoolean());
        Assert.Equal(["mcp.http.TOKEN"], http.GetProperty("credential_secret_refs").EnumerateArray().Select(e => e.GetString()));
        Assert.True(rt.RootElement.GetProperty("mcp").GetProperty("redactions").GetInt64() >= 1);
        Assert.Contains("redacted", h.Daemon.Logs, StringComparison.Ordinal);

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
            new McpClientOptions { ProtocolVersion = revision });

    [Fact]
    public async Task A_key_whose_scope_denies_a_server_sees_none_of_its_tools_and_cannot_call_them()
    {
        if (Skip(out string why)) { Assert.Skip(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();

        using JsonDocument doc = await h.TsClientAsync(h.DeniedKey, "everything__echo", """{"message":"hi"}""", runId: "run-denied");
        Assert.Empty(doc.RootElement.GetProperty("tools").EnumerateArray());
        string error = doc.RootElement.GetProperty("error").GetString()!;
        Assert.Contains("no tool named `everything__echo` is available", error, StringComparison.Ordinal);
        Assert.Equal(-32602, doc.RootElement.GetProperty("code").GetInt32());

        await using McpClient cs = await Connect(h, h.DeniedKey, "2026-07-28");
        Assert.Empty(await cs.ListToolsAsync());
        await Assert.ThrowsAsync<ModelContextProtocol.McpProtocolException>(async () => await cs.CallToolAsync("everything__echo", new Dictionary<string, object?> { ["message"] = "x" }));

        // Refused before the ledger: nothing recorded for that run.
        CliResult records = await h.OfflineAsync("-o", "json", "runs", "external-actions", "run-denied");
        Assert.NotEqual(0, records.ExitCode);
    }

    [Fact]
    public async Task No_key_gets_a_401_and_a_wrong_key_cannot_ride_another_keys_session()
    {
        if (Skip(out string why)) { Assert.Skip(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        using HttpClient anonymous = h.Daemon.Client();
        using HttpResponseMessage noKey = await anonymous.PostAsync("/mcp", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);

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
        Assert.Equal(HttpStatusCode.Forbidden, answer.StatusCode);
    }

    [Fact]
    public async Task A_stdio_server_killed_mid_call_fails_the_call_records_failed_and_is_restarted()
    {
        if (Skip(out string why)) { Assert.Skip(why); return; }
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
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
        Assert.Contains("mcp_server_failed", body, StringComparison.Ordinal);

        CliResult records = await h.OfflineAsync("-o", "json", "runs", "external-actions", "run-crash");
        using (JsonDocument ledger = JsonDocument.Parse(records.Stdout))
        {
            Assert.Equal(["started", "failed"], ledger.RootElement.GetProperty("external_actions").EnumerateArray().Select(r => r.GetProperty("phase").GetString()));
        }

        // Restarted with backoff and counted; the next call works on a new process.
        int newPid = 0;
        for (int i = 0; i < 100 && newPid == 0; i++)
        {
            await Task.Delay(200);
            JsonElement s = await ServerAsync(admin, "everything");
            if (s.GetProperty("restarts").GetInt32() == 1 && s.TryGetProperty("pid", out JsonElement p) && p.GetInt32() != pid)
            {
                newPid = p.GetInt32();
            }
        }

        Assert.NotEqual(0, newPid);
        using HttpResponseMessage ok = await admin.PostAsync("/v1/runtime/mcp/tools/everything__echo/call",
            new StringContent("""{"arguments":{"message":"again"}}""", Encoding.UTF8, "application/json"));
        string okBody = await ok.Content.ReadAsStringAsync();
        Assert.True(ok.IsSuccessStatusCode, okBody);
        Assert.Contains("again", okBody, StringComparison.Ordinal);
        await h.AssertNoLeaksAsync(body, okBody, records.Stdout);
    }

    [Fact]
    public async Task Killing_the_daemon_with_sigkill_leaves_no_stdio_child_behind()
    {
        if (Skip(out string why)) { Assert.Skip(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        using HttpClient admin = h.Admin();
        using HttpResponseMessage ok = await admin.PostAsync("/v1/runtime/mcp/tools/everything__echo/call",
            new StringContent("""{"arguments":{"message":"start"}}""", Encoding.UTF8, "application/json"));
        Assert.True(ok.IsSuccessStatusCode, await ok.Content.ReadAsStringAsync());
        int pid = await WaitForPidAsync(admin);
        Assert.True(Directory.Exists($"/proc/{pid}"));

        await h.Daemon.StopAsync(kill: true);
        bool gone = false;
        for (int i = 0; i < 50 && !gone; i++)
        {
            gone = !Directory.Exists($"/proc/{pid}") || File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] == "Z";
            await Task.Delay(100);
        }

        Assert.True(gone, $"stdio child {pid} survived kill -9 of the daemon");
    }

    [Fact]
    public async Task Graceful_shutdown_stops_the_children()
    {
        if (Skip(out string why)) { Assert.Skip(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        using HttpClient admin = h.Admin();
        using HttpResponseMessage ok = await admin.PostAsync("/v1/runtime/mcp/tools/everything__echo/call",
            new StringContent("""{"arguments":{"message":"start"}}""", Encoding.UTF8, "application/json"));
        Assert.True(ok.IsSuccessStatusCode);
        int pid = await WaitForPidAsync(admin);
        Assert.Equal(0, await h.Daemon.StopAsync());
        Assert.False(Directory.Exists($"/proc/{pid}") && File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] != "Z", "child survived a graceful stop");
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
