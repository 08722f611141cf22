using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Kheish.Daemon.Tests.Mcp;

/// <summary>
/// What happens to a stdio server when its slot or subject changes, the aggregated prompts and
/// resources, ids from <c>_meta</c>, the lease id in the ledger, and the MCP SDK's logs.
/// </summary>
public sealed class McpLifecycleTests
{
    private static bool NoPeers(out string reason) => McpHarness.NoPeers(out reason);

    private static string Detail(string problem)
    {
        using JsonDocument doc = JsonDocument.Parse(problem);
        return doc.RootElement.GetProperty("detail").GetString()!;
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> ServerAsync(HttpClient admin)
    {
        using JsonDocument doc = JsonDocument.Parse(await admin.GetStringAsync("/v1/runtime/mcp/servers"));
        return doc.RootElement.GetProperty("servers").EnumerateArray().Single(s => s.GetProperty("server").GetString() == "everything").Clone();
    }

    private static async Task<int> CallEchoForPidAsync(HttpClient admin)
    {
        using HttpResponseMessage ok = await admin.PostAsync("/v1/runtime/mcp/tools/everything__echo/call", Json("""{"arguments":{"message":"up"}}"""));
        McpHarness.Require(ok.IsSuccessStatusCode, await ok.Content.ReadAsStringAsync());
        JsonElement s = await ServerAsync(admin);
        McpHarness.Require(s.TryGetProperty("pid", out JsonElement pid), s.ToString());
        return pid.GetInt32();
    }

    private static bool Alive(int pid) => Support.ProcessProbe.Alive(pid);

    private static async Task WaitGoneAsync(int pid, string what)
    {
        for (int i = 0; i < 300 && Alive(pid); i++)
        {
            await Task.Delay(100);
        }

        McpHarness.Require(!Alive(pid), $"stdio child {pid} still runs after {what}");
    }

    private static async Task<string> SetSlotOnlineAsync(HttpClient admin, string slot, string value)
    {
        using HttpResponseMessage set = await admin.PostAsync("/v1/runtime/secrets/",
            Json(JsonSerializer.Serialize(new Dictionary<string, string> { ["slot_id"] = slot, ["provider"] = "generic", ["value"] = value })));
        string body = await set.Content.ReadAsStringAsync();
        McpHarness.Require(set.IsSuccessStatusCode, body);
        return body;
    }

    [Test]
    public async Task Rotating_the_slot_restarts_the_server_with_the_new_value_and_revoking_it_stops_the_server()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        using HttpClient admin = h.Admin();
        int first = await CallEchoForPidAsync(admin);

        // Rotation: the running child holds the old value, so it is stopped at once; the next
        // use starts a new process, which gets the new value (it comes back redacted).
        string rotated = Canary.New("rotated");
        string setBody = await SetSlotOnlineAsync(admin, McpHarness.EverythingSlot, rotated);
        await WaitGoneAsync(first, "its slot was rotated");
        using HttpResponseMessage env = await admin.PostAsync("/v1/runtime/mcp/tools/everything__get-env/call", Json("{}"));
        string envBody = await env.Content.ReadAsStringAsync();
        McpHarness.Require(env.IsSuccessStatusCode, envBody);
        await Assert.That(envBody).Contains("[redacted:mcp.everything.EVERYTHING_TOKEN]");
        int second = (await ServerAsync(admin)).GetProperty("pid").GetInt32();
        await Assert.That(second).IsNotEqualTo(first);

        // Revocation: the child is stopped at once (no call needed) and its tools fail clearly.
        using HttpResponseMessage revoke = await admin.PostAsync($"/v1/runtime/auth/slots/{McpHarness.EverythingSlot}/revoke", null);
        McpHarness.Require(revoke.IsSuccessStatusCode, await revoke.Content.ReadAsStringAsync());
        await WaitGoneAsync(second, "its slot was revoked");
        JsonElement stopped = await ServerAsync(admin);
        await Assert.That(stopped.GetProperty("connected").GetBoolean()).IsFalse();
        await Assert.That(stopped.GetProperty("error").GetString()).Contains("has been revoked");

        using HttpResponseMessage refused = await admin.PostAsync("/v1/runtime/mcp/tools/everything__echo/call", Json("""{"arguments":{"message":"x"}}"""));
        string refusedBody = await refused.Content.ReadAsStringAsync();
        await Assert.That(refused.IsSuccessStatusCode).IsFalse();
        await Assert.That(Detail(refusedBody)).Contains($"auth slot `{McpHarness.EverythingSlot}` has been revoked");

        // The agent sees a JSON-RPC error, not a crash or an empty answer.
        using JsonDocument agent = await h.TsClientAsync(h.ApiKey, "everything__echo", """{"message":"x"}""", runId: "run-revoked");
        await Assert.That(agent.RootElement.GetProperty("error").GetString()).Contains("has been revoked");

        // Writing the slot again lifts the tombstone: the server starts on next use.
        await SetSlotOnlineAsync(admin, McpHarness.EverythingSlot, Canary.New("rewritten"));
        int third = await CallEchoForPidAsync(admin);
        await Assert.That(Alive(third)).IsTrue();
        await h.AssertNoLeaksAsync(setBody, envBody, refusedBody, agent.RootElement.GetRawText());
        Canary.AssertAbsent(rotated, h.Daemon.Logs, "daemon logs");
        Canary.AssertAbsent(rotated, envBody, "a tool result");
    }

    [Test]
    public async Task Revoking_the_servers_subject_stops_it_and_its_tools_fail_with_a_clear_error()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        string? modules = McpHarness.NodeModules();
        await using McpHarness h = await McpHarness.StartAsync(extraToml: $$"""
            [mcp_servers.plain]
            command = "node"
            args = ["{{Path.Combine(modules!, "@modelcontextprotocol", "server-everything", "dist", "index.js")}}", "stdio"]

            """);
        using HttpClient admin = h.Admin();

        // A server without credentials takes no lease to start, yet its revoked subject still refuses it.
        using (HttpResponseMessage revokePlain = await admin.PostAsync("/v1/runtime/auth/subjects/mcp:plain/revoke", null))
        {
            McpHarness.Require(revokePlain.IsSuccessStatusCode, await revokePlain.Content.ReadAsStringAsync());
        }

        using (HttpResponseMessage plain = await admin.PostAsync("/v1/runtime/mcp/tools/plain__echo/call", Json("""{"arguments":{"message":"x"}}""")))
        {
            string plainBody = await plain.Content.ReadAsStringAsync();
            await Assert.That(plain.IsSuccessStatusCode).IsFalse().Because(plainBody);
            await Assert.That(Detail(plainBody)).Contains("subject `mcp:plain` has been revoked");
        }

        int pid = await CallEchoForPidAsync(admin);

        using HttpResponseMessage revoke = await admin.PostAsync("/v1/runtime/auth/subjects/mcp:everything/revoke", null);
        McpHarness.Require(revoke.IsSuccessStatusCode, await revoke.Content.ReadAsStringAsync());
        await WaitGoneAsync(pid, "its subject was revoked");

        using HttpResponseMessage refused = await admin.PostAsync("/v1/runtime/mcp/tools/everything__echo/call", Json("""{"arguments":{"message":"x"}}"""));
        string body = await refused.Content.ReadAsStringAsync();
        await Assert.That(refused.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        await Assert.That(Detail(body)).Contains("subject `mcp:everything` has been revoked");
        await Assert.That((await ServerAsync(admin)).TryGetProperty("pid", out _)).IsFalse();
        await h.AssertNoLeaksAsync(body);
    }

    [Test]
    [Arguments("2026-07-28")]
    [Arguments("2025-11-25")]
    public async Task Prompts_resources_and_completions_of_the_upstream_are_listed_and_served_under_gateway_names(string revision)
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        await using McpClient client = await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = h.McpUri,
                TransportMode = HttpTransportMode.StreamableHttp,
                AdditionalHeaders = new Dictionary<string, string> { ["X-API-Key"] = h.ApiKey },
            }),
            new McpClientOptions { ProtocolVersion = revision, DiscoverProbeTimeout = TimeSpan.FromSeconds(30), InitializationTimeout = TimeSpan.FromSeconds(60) });

        IList<McpClientPrompt> prompts = await client.ListPromptsAsync();
        string[] promptNames = [.. prompts.Select(p => p.Name)];
        await Assert.That(promptNames).Contains("everything__simple-prompt");
        await Assert.That(promptNames.All(n => n.StartsWith("everything__", StringComparison.Ordinal))).IsTrue();
        GetPromptResult prompt = await client.GetPromptAsync("everything__simple-prompt");
        await Assert.That(prompt.Messages.Count).IsGreaterThan(0);
        await Assert.That(((TextContentBlock)prompt.Messages[0].Content).Text.Length).IsGreaterThan(0);

        CompleteResult completion = await client.CompleteAsync(new PromptReference { Name = "everything__completable-prompt" }, "department", "Eng");
        await Assert.That(completion.Completion.Values.ToArray()).IsEquivalentTo(["Engineering"], CollectionOrdering.Matching);

        IList<McpClientResource> resources = await client.ListResourcesAsync();
        McpHarness.Require(resources.Count > 0, "no resources listed");
        McpClientResource first = resources[0];
        await Assert.That(first.Uri).StartsWith("kheish-mcp://everything/");
        await Assert.That(first.Name).StartsWith("everything__");
        ReadResourceResult read = await client.ReadResourceAsync(first.Uri);
        await Assert.That(read.Contents.Count).IsGreaterThan(0);
        await Assert.That(read.Contents[0].Uri).IsEqualTo(first.Uri);

        // Names outside what the key reaches: a clear JSON-RPC error, not an empty answer.
        await Assert.That(async () => await client.GetPromptAsync("nosuch__simple-prompt")).Throws<ModelContextProtocol.McpProtocolException>();
        await Assert.That(async () => await client.ReadResourceAsync("demo://resource/static/document/x")).Throws<ModelContextProtocol.McpProtocolException>();

        // The denied key lists none of them and cannot get them by guessing.
        await using McpClient denied = await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = h.McpUri,
                TransportMode = HttpTransportMode.StreamableHttp,
                AdditionalHeaders = new Dictionary<string, string> { ["X-API-Key"] = h.DeniedKey },
            }),
            new McpClientOptions { ProtocolVersion = revision, DiscoverProbeTimeout = TimeSpan.FromSeconds(30), InitializationTimeout = TimeSpan.FromSeconds(60) });
        await Assert.That((await denied.ListPromptsAsync()).Count).IsEqualTo(0);
        await Assert.That((await denied.ListResourcesAsync()).Count).IsEqualTo(0);
        await Assert.That(async () => await denied.GetPromptAsync("everything__simple-prompt")).Throws<ModelContextProtocol.McpProtocolException>();
        await Assert.That(async () => await denied.ReadResourceAsync(first.Uri)).Throws<ModelContextProtocol.McpProtocolException>();
        CompleteResult none = await denied.CompleteAsync(new PromptReference { Name = "everything__completable-prompt" }, "department", "Eng");
        await Assert.That(none.Completion.Values.Count).IsEqualTo(0);
        await h.AssertNoLeaksAsync();
    }

    [Test]
    public async Task Ids_from_meta_and_the_lease_id_are_in_the_ledger_and_no_tool_argument_reaches_the_log()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        string argument = Canary.New("toolarg");
        string toolName = Canary.New("toolname");
        string script = h.Dir.File("meta-client.cjs");
        File.WriteAllText(script, """
            const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
            const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
            (async () => {
              const transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), {
                requestInit: { headers: { 'X-API-Key': process.env.AGENT_KEY } } });
              const client = new Client({ name: 'meta-test', version: '1.0.0' });
              await client.connect(transport);
              const out = {};
              const meta = { 'kheish/run_id': 'run-meta', 'kheish/agent_id': 'agent-meta', 'kheish/tool_call_id': 'call-meta-1' };
              out.first = await client.callTool({ name: 'everything__echo', arguments: { message: process.env.ARG }, _meta: meta });
              out.second = await client.callTool({ name: 'everything__echo', arguments: { message: process.env.ARG }, _meta: { ...meta, 'kheish/tool_call_id': 'call-meta-2' } });
              try { await client.callTool({ name: 'everything__' + process.env.NAME, arguments: { message: process.env.ARG } }); }
              catch (e) { out.unknown = String(e.message); }
              try { await client.callTool({ name: 'everything__echo', arguments: { message: { nested: process.env.ARG } } }); out.bad = 'answered'; }
              catch (e) { out.bad = String(e.message); }
              console.log(JSON.stringify(out));
              await client.close();
            })().catch(e => { console.error('client error: ' + (e && e.message)); process.exit(1); });
            """);
        var psi = new ProcessStartInfo("node", [script]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["NODE_PATH"] = h.Modules;
        psi.Environment["MCP_URL"] = h.McpUri.ToString();
        psi.Environment["AGENT_KEY"] = h.ApiKey;
        psi.Environment["ARG"] = argument;
        psi.Environment["NAME"] = toolName;
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await p.WaitForExitAsync(cts.Token);
        string output = await stdout;
        McpHarness.Require(p.ExitCode == 0, $"{await stderr}\n{output}\n{h.Daemon.Logs}");
        await Assert.That(output).Contains("Echo: " + argument);

        CliResult records = await h.SettledActionsAsync("run-meta");
        McpHarness.Require(records.ExitCode == 0, records.ToString());
        using JsonDocument ledger = JsonDocument.Parse(records.Stdout);
        var mine = ledger.RootElement.GetProperty("external_actions").EnumerateArray().Where(r => r.GetProperty("kind").GetString() == "mcp_tool_call").ToList();
        await Assert.That(mine.Select(r => r.GetProperty("phase").GetString()!).ToArray()).IsEquivalentTo(["started", "completed", "started", "completed"], CollectionOrdering.Matching);
        await Assert.That(mine.All(r => r.GetProperty("agent_id").GetString() == "agent-meta")).IsTrue();
        await Assert.That(mine.Select(r => r.GetProperty("tool_call_id").GetString()!).ToArray())
            .IsEquivalentTo(["call-meta-1", "call-meta-1", "call-meta-2", "call-meta-2"], CollectionOrdering.Matching);

        // The lease each call was authorized by: the same in its started and completed records, a new one per call.
        string[] leases = [.. mine.Select(r => r.GetProperty("lease_id").GetString()!)];
        await Assert.That(leases[0]).IsEqualTo(leases[1]);
        await Assert.That(leases[2]).IsEqualTo(leases[3]);
        await Assert.That(leases[0]).IsNotEqualTo(leases[2]);
        await Assert.That(mine.All(r => r.GetProperty("grant_id").GetString()!.Length > 0)).IsTrue();
        using HttpClient admin = h.Admin();
        using HttpResponseMessage lease = await admin.GetAsync($"/v1/runtime/auth/leases/{leases[2]}");
        string leaseBody = await lease.Content.ReadAsStringAsync();
        if (lease.StatusCode == HttpStatusCode.OK)
        {
            using JsonDocument l = JsonDocument.Parse(leaseBody);
            await Assert.That(l.RootElement.GetProperty("lease").GetProperty("subject_id").GetString()).IsEqualTo("agent:coder");
            await Assert.That(l.RootElement.GetProperty("lease").GetProperty("grant_id").GetString()).IsEqualTo(mine[2].GetProperty("grant_id").GetString());
        }
        else
        {
            // Expired leases are pruned; an unknown id must still be a precise 404, not a match.
            await Assert.That(lease.StatusCode).IsEqualTo(HttpStatusCode.NotFound).Because(leaseBody);
        }

        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot], h.Env);
        McpHarness.Require(verify.ExitCode == 0, verify.ToString());

        // The argument went out and came back, but no log line carries it: not the SDK's request
        // logs, not a refusal quoting the caller's tool name, not an upstream's error text. (The
        // ledger records the tool name called, as its target; never the arguments.)
        await h.Daemon.StopAsync();
        Canary.AssertAbsent(argument, h.Daemon.Logs, "daemon logs");
        Canary.AssertAbsent(toolName, h.Daemon.Logs, "daemon logs");
        Canary.AssertAbsent(argument, records.Stdout, "ledger records");
        Canary.AssertAbsentFromFiles(argument, h.Dir, "meta-client.cjs");
        await h.AssertNoLeaksAsync(output, records.Stdout, leaseBody);
    }
}
