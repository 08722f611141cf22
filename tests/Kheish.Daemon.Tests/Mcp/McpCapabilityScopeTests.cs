using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Kheish.Daemon.Tests.Mcp;

/// <summary>
/// capability_scope end to end: what a key (and a session acting under it) may see in tools/list
/// and call through the gateway, with a real C# SDK client against server-everything.
/// </summary>
public sealed class McpCapabilityScopeTests
{
    private static bool NoPeers(out string reason) => McpHarness.NoPeers(out reason);

    private static Task<McpClient> ConnectAsync(McpHarness h, string key, string runId, string? sessionId = null)
    {
        var headers = new Dictionary<string, string> { ["X-API-Key"] = key, ["X-Kheish-Run-Id"] = runId };
        if (sessionId is not null)
        {
            headers["X-Kheish-Session-Id"] = sessionId;
        }

        return McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions { Endpoint = h.McpUri, TransportMode = HttpTransportMode.StreamableHttp, AdditionalHeaders = headers }),
            new McpClientOptions { DiscoverProbeTimeout = TimeSpan.FromSeconds(30), InitializationTimeout = TimeSpan.FromSeconds(60) });
    }

    private static async Task<string[]> ToolsAsync(McpClient client) =>
        [.. (await client.ListToolsAsync()).Select(t => t.Name).Order(StringComparer.Ordinal)];

    private static async Task<int> ToolCallRecordsAsync(McpHarness h, string runId)
    {
        CliResult records = await h.SettledActionsAsync(runId);
        if (records.ExitCode != 0)
        {
            return 0;
        }

        using JsonDocument doc = JsonDocument.Parse(records.Stdout);
        return doc.RootElement.GetProperty("external_actions").EnumerateArray().Count(r => r.GetProperty("kind").GetString() == "mcp_tool_call");
    }

    [Test]
    public async Task A_key_with_tool_allow_sees_only_matching_tools_deny_wins_and_other_calls_are_refused_unmade()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        CliResult made = await Support.Cli.RunAsync(
            ["security", "generate-key", "--project-root", h.Project, "--principal", "agent:scoped", "-o", "json",
             "--tool-allow", "everything__echo", "--tool-allow", "everything__get-*", "--tool-deny", "everything__get-env"], h.Env);
        McpHarness.Require(made.ExitCode == 0, made.ToString());
        string key;
        using (JsonDocument doc = JsonDocument.Parse(made.Stdout))
        {
            key = doc.RootElement.GetProperty("key").GetString()!;
        }

        await using McpClient client = await ConnectAsync(h, key, "run-cap");
        string[] tools = await ToolsAsync(client);
        await Assert.That(tools).Contains("everything__echo");
        await Assert.That(tools).Contains("everything__get-sum");
        await Assert.That(tools).DoesNotContain("everything__get-env");
        await Assert.That(tools.All(t => t == "everything__echo" || t.StartsWith("everything__get-", StringComparison.Ordinal))).IsTrue().Because(string.Join(",", tools));

        CallToolResult sum = await client.CallToolAsync("everything__get-sum", new Dictionary<string, object?> { ["a"] = 2, ["b"] = 3 });
        await Assert.That(((TextContentBlock)sum.Content[0]).Text).Contains("5");

        var refused = new List<string>();
        foreach (string name in new[] { "everything__get-env", "everything__trigger-long-running-operation", "everything__no-such-tool" })
        {
            McpProtocolException error = (await Assert.That(async () => await client.CallToolAsync(name, new Dictionary<string, object?>())).Throws<McpProtocolException>())!;
            await Assert.That(error.Message).Contains($"tool `{name}` is outside this caller's capability_scope");
            await Assert.That(error.Message).Contains("[mcp_tool_outside_capability_scope]");
            await Assert.That(error.ErrorCode).IsEqualTo(McpErrorCode.InvalidRequest);
            refused.Add(error.Message);
        }

        // Only the allowed call reached the upstream.
        await Assert.That(await ToolCallRecordsAsync(h, "run-cap")).IsEqualTo(2);

        // The unscoped key still sees everything.
        await using McpClient open = await ConnectAsync(h, h.ApiKey, "run-open");
        await Assert.That(await ToolsAsync(open)).Contains("everything__get-env");
        await h.AssertNoLeaksAsync([made.Stderr, .. refused]);
    }

    [Test]
    public async Task A_session_narrows_its_key_a_child_session_cannot_widen_its_parent_and_the_intersection_applies_to_calls()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        using HttpClient admin = h.Admin();

        async Task<HttpResponseMessage> CreateAsync(string json) =>
            await admin.PostAsync("/v1/sessions", new StringContent(json, Encoding.UTF8, "application/json"));

        using HttpResponseMessage parent = await CreateAsync("""{"session_id":"p1","capability_scope":{"tool_allow":["everything__echo","everything__get-sum"]}}""");
        await Assert.That(parent.StatusCode).IsEqualTo(HttpStatusCode.OK).Because(await parent.Content.ReadAsStringAsync());

        // A child naming a tool its parent does not allow is refused, and nothing is created.
        using HttpResponseMessage wider = await CreateAsync("""{"session_id":"c-wide","parent_session_id":"p1","capability_scope":{"tool_allow":["everything__get-env"]}}""");
        string widerBody = await wider.Content.ReadAsStringAsync();
        await Assert.That(wider.StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
        using (JsonDocument problem = JsonDocument.Parse(widerBody))
        {
            await Assert.That(problem.RootElement.GetProperty("code").GetString()).IsEqualTo("capability_widens_parent");
            await Assert.That(problem.RootElement.GetProperty("detail").GetString())
                .IsEqualTo("capability_scope.tool_allow names tools outside the parent session's capability scope: `everything__get-env`");
        }

        // Nothing was created: the id is still free.
        using HttpResponseMessage retry = await CreateAsync("""{"session_id":"c-wide","parent_session_id":"p1","capability_scope":{"tool_allow":["everything__echo"]}}""");
        await Assert.That(retry.StatusCode).IsEqualTo(HttpStatusCode.OK).Because(await retry.Content.ReadAsStringAsync());

        // A glob cannot widen either: the child's scope is intersected with its parent's.
        using HttpResponseMessage globChild = await CreateAsync("""{"session_id":"c-glob","parent_session_id":"p1","capability_scope":{"tool_allow":["everything__*"],"tool_deny":["everything__get-sum"]}}""");
        await Assert.That(globChild.StatusCode).IsEqualTo(HttpStatusCode.OK).Because(await globChild.Content.ReadAsStringAsync());

        // Malformed scopes: precise errors.
        using HttpResponseMessage empty = await CreateAsync("""{"session_id":"c-empty","capability_scope":{"tool_allow":[]}}""");
        await Assert.That(empty.StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
        using (JsonDocument problem = JsonDocument.Parse(await empty.Content.ReadAsStringAsync()))
        {
            await Assert.That(problem.RootElement.GetProperty("code").GetString()).IsEqualTo("invalid_capability_scope");
            await Assert.That(problem.RootElement.GetProperty("detail").GetString()).StartsWith("capability_scope.tool_allow is empty");
        }

        await using McpClient inParent = await ConnectAsync(h, h.ApiKey, "run-p1", "p1");
        await Assert.That(await ToolsAsync(inParent)).IsEquivalentTo(["everything__echo", "everything__get-sum"], CollectionOrdering.Matching);

        await using McpClient inChild = await ConnectAsync(h, h.ApiKey, "run-c", "c-glob");
        await Assert.That(await ToolsAsync(inChild)).IsEquivalentTo(["everything__echo"], CollectionOrdering.Matching);
        CallToolResult echo = await inChild.CallToolAsync("everything__echo", new Dictionary<string, object?> { ["message"] = "child" });
        await Assert.That(((TextContentBlock)echo.Content[0]).Text).IsEqualTo("Echo: child");
        var refused = new List<string>();
        foreach (string name in new[] { "everything__get-sum", "everything__get-env" })
        {
            McpProtocolException error = (await Assert.That(async () => await inChild.CallToolAsync(name, new Dictionary<string, object?> { ["a"] = 1, ["b"] = 1 })).Throws<McpProtocolException>())!;
            await Assert.That(error.Message).Contains("[mcp_tool_outside_capability_scope]");
            refused.Add(error.Message);
        }

        await Assert.That(await ToolCallRecordsAsync(h, "run-c")).IsEqualTo(2);

        // A key's own scope bounds its sessions too: a key allowed only get-sum, acting for p1, sees only get-sum.
        string narrow = await h.GenerateKeyAsync("agent:narrow", """{"capability_scope":{"tool_allow":["everything__get-sum","everything__get-env"]}}""");
        await using McpClient keyInSession = await ConnectAsync(h, narrow, "run-k", "p1");
        await Assert.That(await ToolsAsync(keyInSession)).IsEquivalentTo(["everything__get-sum"], CollectionOrdering.Matching);
        await h.AssertNoLeaksAsync([widerBody, .. refused]);
    }

    [Test]
    public async Task Generate_key_refuses_a_malformed_tool_pattern_with_a_precise_error_and_writes_nothing()
    {
        using var dir = new TempDir();
        string project = dir.File("project");
        Directory.CreateDirectory(project);
        var env = new Dictionary<string, string?> { ["XDG_CONFIG_HOME"] = dir.File("xdg") };
        CliResult bad = await Support.Cli.RunAsync(["security", "generate-key", "--project-root", project, "--tool-allow", "everything__echo", "--tool-deny", "bad name"], env);
        await Assert.That(bad.ExitCode).IsEqualTo(2).Because(bad.ToString());
        await Assert.That(bad.Stderr).Contains("scope.capability_scope.tool_deny[0] must be a gateway tool name <server>__<tool> or a `*` glob of them");
        await Assert.That(File.Exists(Path.Combine(project, ".kheish", "security.json"))).IsFalse();

        string scopeFile = dir.File("scope.json");
        File.WriteAllText(scopeFile, """{"capability_scope":{"tool_allow":["a__b"],"tool_allow_also":[["x"]]}}""");
        CliResult also = await Support.Cli.RunAsync(["security", "generate-key", "--project-root", project, "--scope-file", scopeFile], env);
        await Assert.That(also.ExitCode).IsEqualTo(2).Because(also.ToString());
        await Assert.That(also.Stderr).Contains("tool_allow_also is written by the daemon");
    }
}
