using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Kheish.Daemon.Tests.Mcp;

/// <summary>
/// tool_policy end to end: server-everything's <c>echo</c> is <c>approve</c> and its
/// <c>get-*</c> tools are <c>deny</c>; real MCP clients (TypeScript and C# SDKs) call through
/// a real daemon while an operator decides with the CLI from another process.
/// </summary>
public sealed class McpApprovalTests
{
    private const string TsCallScript = """
        const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
        const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
        (async () => {
          const transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), {
            requestInit: { headers: { 'X-API-Key': process.env.AGENT_KEY, 'X-Kheish-Run-Id': process.env.RUN_ID } } });
          const client = new Client({ name: 'ts-approval', version: '1.0.0' });
          await client.connect(transport);
          const out = { progress: [] };
          out.tools = (await client.listTools()).tools.map(t => t.name);
          try {
            out.result = await client.callTool({ name: process.env.CALL, arguments: JSON.parse(process.env.ARGS) }, undefined,
              { onprogress: p => out.progress.push(p.message || ''), resetTimeoutOnProgress: true, timeout: Number(process.env.TIMEOUT_MS) });
          } catch (e) { out.error = String((e && e.message) || e); out.code = e && e.code; }
          console.log(JSON.stringify(out));
          try { await client.close(); } catch (e) { }
          process.exit(0);
        })().catch(e => { console.log(JSON.stringify({ fatal: String(e && e.message) })); process.exit(0); });
        """;

    private static bool NoPeers(out string reason) => McpHarness.NoPeers(out reason);

    private static Task<McpHarness> StartAsync(int approvalTimeoutSec = 120) =>
        McpHarness.StartAsync(extraToml: $$"""
            tool_policy = { "*" = "allow", "echo" = "approve", "get-*" = "deny" }
            approval_timeout_sec = {{approvalTimeoutSec}}

            """);

    /// <summary>A TypeScript SDK client whose tools/call is in flight (held) while the test acts.</summary>
    private sealed class TsCall(Process process, Task<string> stdout, Task<string> stderr) : IDisposable
    {
        public async Task<JsonDocument> ResultAsync(McpHarness h)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(150));
            await process.WaitForExitAsync(cts.Token);
            string output = await stdout;
            McpHarness.Require(output.TrimStart().StartsWith('{'), $"ts client failed: {await stderr}\n{output}\n{h.Daemon.Logs}");
            return JsonDocument.Parse(output);
        }

        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.Dispose();
        }
    }

    private static TsCall StartTsCall(McpHarness h, string tool, string argsJson, string runId, int timeoutMs = 120_000, string? key = null)
    {
        string script = h.Dir.File("ts-approval.cjs");
        File.WriteAllText(script, TsCallScript);
        var psi = new ProcessStartInfo("node", [script]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["NODE_PATH"] = h.Modules;
        psi.Environment["MCP_URL"] = h.McpUri.ToString();
        psi.Environment["AGENT_KEY"] = key ?? h.ApiKey;
        psi.Environment["RUN_ID"] = runId;
        psi.Environment["CALL"] = tool;
        psi.Environment["ARGS"] = argsJson;
        psi.Environment["TIMEOUT_MS"] = timeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Process p = Process.Start(psi)!;
        return new TsCall(p, p.StandardOutput.ReadToEndAsync(), p.StandardError.ReadToEndAsync());
    }

    private static Task<CliResult> CliAsync(McpHarness h, string token, params string[] args) =>
        Support.Cli.RunAsync([.. args, "--base-url", h.Daemon.BaseUri.ToString(), "--token", token], h.Env);

    /// <summary>Polls <c>approvals list -o json</c> (another process, admin token) until an approval has <paramref name="status"/>.</summary>
    private static async Task<JsonElement> WaitForApprovalAsync(McpHarness h, string status = "pending", string? id = null)
    {
        var deadline = Stopwatch.StartNew();
        string last = "";
        while (deadline.Elapsed < TimeSpan.FromSeconds(90))
        {
            CliResult list = await h.OnlineAsync("approvals", "list", "-o", "json");
            McpHarness.Require(list.ExitCode == 0, list.ToString());
            last = list.Stdout;
            using JsonDocument doc = JsonDocument.Parse(list.Stdout);
            foreach (JsonElement a in doc.RootElement.GetProperty("approvals").EnumerateArray())
            {
                if (a.GetProperty("status").GetString() == status && (id is null || a.GetProperty("id").GetString() == id))
                {
                    return a.Clone();
                }
            }

            await Task.Delay(250);
        }

        Assert.Fail($"no approval with status {status} appeared; last list: {last}\n{h.Daemon.Logs}");
        throw new InvalidOperationException();
    }

    private static async Task<List<JsonElement>> LedgerAsync(McpHarness h, string runId)
    {
        // The completed record of a call is appended off the answer's path: wait until every started one has its outcome.
        CliResult records = await h.SettledActionsAsync(runId);
        McpHarness.Require(records.ExitCode == 0, records.ToString());
        using JsonDocument doc = JsonDocument.Parse(records.Stdout);
        return [.. doc.RootElement.GetProperty("external_actions").EnumerateArray().Select(r => r.Clone())];
    }

    private static string Field(JsonElement e, string name) => e.TryGetProperty(name, out JsonElement v) ? v.GetString() ?? "" : "";

    private static string Sha256Hex(string s) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(s)));

    [Test]
    public async Task An_operator_approving_from_the_cli_lets_the_held_call_complete_once_with_its_recorded_arguments()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await StartAsync();
        using TsCall call = StartTsCall(h, "everything__echo", """{"message":"approve me"}""", "run-approve");

        JsonElement pending = await WaitForApprovalAsync(h);
        string id = pending.GetProperty("id").GetString()!;
        await Assert.That(Field(pending, "server")).IsEqualTo("everything");
        await Assert.That(Field(pending, "tool")).IsEqualTo("echo");
        await Assert.That(Field(pending, "principal_id")).IsEqualTo("agent:coder");
        await Assert.That(Field(pending, "args_digest")).IsEqualTo(Sha256Hex("""{"message":"approve me"}"""));
        await Assert.That(pending.GetProperty("args").GetProperty("message").GetString()).IsEqualTo("approve me");
        await Assert.That(pending.GetProperty("expires_at_ms").GetInt64() - pending.GetProperty("requested_at_ms").GetInt64()).IsEqualTo(120_000);

        // The read-only token sees the approval but not its arguments, and cannot decide.
        using HttpClient ro = h.Daemon.Client(h.ReadOnlyToken);
        string roList = await ro.GetStringAsync("/v1/runtime/approvals");
        using (JsonDocument roDoc = JsonDocument.Parse(roList))
        {
            JsonElement seen = roDoc.RootElement.GetProperty("approvals").EnumerateArray().Single();
            await Assert.That(Field(seen, "id")).IsEqualTo(id);
            await Assert.That(seen.TryGetProperty("args", out _)).IsFalse();
            await Assert.That(Field(seen, "args_digest")).IsEqualTo(Field(pending, "args_digest"));
        }

        await Assert.That(roList.Contains("approve me", StringComparison.Ordinal)).IsFalse();
        using HttpResponseMessage roApprove = await ro.PostAsync($"/v1/runtime/approvals/{id}/approve", null);
        await Assert.That(roApprove.StatusCode).IsEqualTo(HttpStatusCode.Forbidden);
        CliResult roCli = await CliAsync(h, h.ReadOnlyToken, "approvals", "approve", id);
        await Assert.That(roCli.ExitCode).IsEqualTo(4).Because(roCli.ToString());
        CliResult roPretty = await CliAsync(h, h.ReadOnlyToken, "approvals", "list");
        await Assert.That(roPretty.Stdout).Contains("(arguments: admin token only)");
        await Assert.That(Field(await WaitForApprovalAsync(h, "pending", id), "id")).IsEqualTo(id);

        // An unknown id and a malformed one: precise errors, nothing changes.
        CliResult unknown = await h.OnlineAsync("approvals", "approve", new string('0', 64));
        await Assert.That(unknown.ExitCode).IsEqualTo(5).Because(unknown.ToString());
        await Assert.That(unknown.Stderr).Contains($"no approval `{new string('0', 64)}`");
        CliResult malformed = await h.OnlineAsync("approvals", "deny", "not-an-id");
        await Assert.That(malformed.ExitCode).IsEqualTo(2);
        await Assert.That(malformed.Stderr).Contains("64 lowercase hex characters");

        CliResult approved = await h.OnlineAsync("approvals", "approve", id, "--reason", "looked fine");
        await Assert.That(approved.ExitCode).IsEqualTo(0).Because(approved.ToString());
        await Assert.That(approved.Stdout).Contains("approved everything__echo");

        using JsonDocument result = await call.ResultAsync(h);
        JsonElement root = result.RootElement;
        McpHarness.Require(!root.TryGetProperty("error", out JsonElement err), root.GetRawText());
        await Assert.That(root.GetProperty("tools").EnumerateArray().Select(t => t.GetString()!).ToArray()).Contains("everything__echo");
        await Assert.That(root.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString()).IsEqualTo("Echo: approve me");
        // Keep-alive while held: progress notifications naming the approval.
        await Assert.That(root.GetProperty("progress").EnumerateArray().Any(p => p.GetString()!.Contains(id, StringComparison.Ordinal))).IsTrue();

        // Deciding again changes nothing.
        CliResult again = await h.OnlineAsync("approvals", "deny", id);
        await Assert.That(again.ExitCode).IsEqualTo(6).Because(again.ToString());
        await Assert.That(again.Stderr).Contains($"approval `{id}` is already approved (by control-plane:admin); nothing changed");
        JsonElement closed = await WaitForApprovalAsync(h, "approved", id);
        await Assert.That(Field(closed, "decided_by")).IsEqualTo("control-plane:admin");

        // Ledger: requested (agent) → approved (operator) → the call, all bound to one digest.
        List<JsonElement> ledger = await LedgerAsync(h, "run-approve");
        string[] shape = [.. ledger.Select(r => $"{Field(r, "kind")}/{Field(r, "phase")}/{Field(r, "outcome")}/{Field(r, "principal_id")}")];
        await Assert.That(shape).IsEquivalentTo(
        [
            "mcp_tool_approval/started/approval_requested/agent:coder",
            "mcp_tool_approval/completed/approved: looked fine/control-plane:admin",
            "mcp_tool_call/started//agent:coder",
            "mcp_tool_call/completed/ok/agent:coder",
        ], CollectionOrdering.Matching);
        await Assert.That(Field(ledger[0], "action_id")).IsEqualTo(id);
        await Assert.That(ledger.All(r => Field(r, "request_digest") == Field(pending, "args_digest"))).IsTrue();
        await Assert.That(Field(ledger[1], "lease_id")).IsEqualTo(Field(ledger[0], "lease_id"));
        await Assert.That(ledger.All(r => Field(r, "target") == "everything/echo")).IsTrue();

        // One approval opens one call: the same call again is held again.
        using TsCall second = StartTsCall(h, "everything__echo", """{"message":"approve me"}""", "run-approve");
        JsonElement next = await WaitForApprovalAsync(h);
        await Assert.That(Field(next, "id")).IsNotEqualTo(id);
        CliResult denySecond = await h.OnlineAsync("approvals", "deny", Field(next, "id"));
        await Assert.That(denySecond.ExitCode).IsEqualTo(0).Because(denySecond.ToString());
        using JsonDocument secondResult = await second.ResultAsync(h);
        await Assert.That(secondResult.RootElement.TryGetProperty("error", out _)).IsTrue();

        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot], h.Env);
        McpHarness.Require(verify.ExitCode == 0, verify.ToString());
        await h.AssertNoLeaksAsync(root.GetRawText(), roList, roPretty.All, approved.All, again.All, unknown.All, secondResult.RootElement.GetRawText());
    }

    private sealed class Collect : IProgress<ProgressNotificationValue>
    {
        public ConcurrentQueue<string> Messages { get; } = new();

        public void Report(ProgressNotificationValue value) => Messages.Enqueue(value.Message ?? "");
    }

    private static Task<McpClient> Connect(McpHarness h, string revision, string runId) =>
        McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = h.McpUri,
                TransportMode = HttpTransportMode.StreamableHttp,
                AdditionalHeaders = new Dictionary<string, string> { ["X-API-Key"] = h.ApiKey, ["X-Kheish-Run-Id"] = runId },
            }),
            new McpClientOptions { ProtocolVersion = revision, DiscoverProbeTimeout = TimeSpan.FromSeconds(30), InitializationTimeout = TimeSpan.FromSeconds(60) });

    [Test]
    [Arguments("2026-07-28")]
    [Arguments("2025-11-25")]
    public async Task A_denied_call_gets_a_json_rpc_error_with_the_reason_and_never_reaches_the_upstream(string revision)
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await StartAsync();
        await using McpClient client = await Connect(h, revision, "run-deny");
        var progress = new Collect();
        Task<CallToolResult> call = client.CallToolAsync("everything__echo", new Dictionary<string, object?> { ["message"] = "deny me" }, progress: progress).AsTask();

        JsonElement pending = await WaitForApprovalAsync(h);
        string id = Field(pending, "id");
        CliResult denied = await h.OnlineAsync("approvals", "deny", id, "--reason", "not during the freeze", "-o", "json");
        await Assert.That(denied.ExitCode).IsEqualTo(0).Because(denied.ToString());
        using (JsonDocument view = JsonDocument.Parse(denied.Stdout))
        {
            await Assert.That(Field(view.RootElement, "status")).IsEqualTo("denied");
            await Assert.That(Field(view.RootElement, "reason")).IsEqualTo("not during the freeze");
        }

        var refused = await Assert.That(async () => await call).Throws<ModelContextProtocol.McpProtocolException>();
        await Assert.That(refused!.Message).Contains($"the call to `everything__echo` (approval {id}) was denied by control-plane:admin: not during the freeze; it was not made");
        await Assert.That(refused.Message).Contains("[mcp_approval_denied]");
        await Assert.That(progress.Messages.Any(m => m.Contains(id, StringComparison.Ordinal))).IsTrue();

        List<JsonElement> ledger = await LedgerAsync(h, "run-deny");
        await Assert.That(ledger.Select(r => $"{Field(r, "kind")}/{Field(r, "phase")}/{Field(r, "outcome")}").ToArray()).IsEquivalentTo(
            ["mcp_tool_approval/started/approval_requested", "mcp_tool_approval/completed/denied: not during the freeze"], CollectionOrdering.Matching);
        await h.AssertNoLeaksAsync(refused.Message, denied.All);
    }

    [Test]
    public async Task A_call_nobody_decides_fails_after_approval_timeout_sec_and_is_recorded_expired()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await StartAsync(approvalTimeoutSec: 3);
        using TsCall call = StartTsCall(h, "everything__echo", """{"message":"too late"}""", "run-timeout");
        using JsonDocument result = await call.ResultAsync(h);
        string error = Field(result.RootElement, "error");
        await Assert.That(error).Contains("got no decision within 3 s (approval_timeout_sec); it was not made");
        await Assert.That(error).Contains("[mcp_approval_timeout]");

        JsonElement expired = await WaitForApprovalAsync(h, "expired");
        CliResult late = await h.OnlineAsync("approvals", "approve", Field(expired, "id"));
        await Assert.That(late.ExitCode).IsEqualTo(6).Because(late.ToString());
        await Assert.That(late.Stderr).Contains("is already expired; nothing changed");

        List<JsonElement> ledger = await LedgerAsync(h, "run-timeout");
        await Assert.That(ledger.Select(r => $"{Field(r, "kind")}/{Field(r, "phase")}/{Field(r, "outcome")}/{Field(r, "principal_id")}").ToArray()).IsEquivalentTo(
            ["mcp_tool_approval/started/approval_requested/agent:coder", "mcp_tool_approval/failed/approval_timeout/daemon"], CollectionOrdering.Matching);
        await h.AssertNoLeaksAsync(result.RootElement.GetRawText(), late.All);
    }

    [Test]
    public async Task The_operators_mcp_call_waits_as_long_as_timeout_sec_for_a_held_call_and_is_approved_like_an_agents()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await StartAsync();
        CliResult bad = await h.OnlineAsync("mcp", "call", "everything__echo", "--args-json", """{"message":"x"}""", "--timeout-sec", "0");
        await Assert.That(bad.ExitCode).IsEqualTo(2);
        await Assert.That(bad.Stderr).Contains("--timeout-sec must be between 1 and 86400 (got 0)");

        CliResult gaveUp = await h.OnlineAsync("mcp", "call", "everything__echo", "--args-json", """{"message":"short wait"}""", "--timeout-sec", "2");
        await Assert.That(gaveUp.ExitCode).IsEqualTo(7).Because(gaveUp.ToString());
        await Assert.That(gaveUp.Stderr).Contains("did not answer within 2 s");

        // The default waits long enough for an operator to decide (a fixed 30 s before).
        Task<CliResult> held = h.OnlineAsync("mcp", "call", "everything__echo", "--args-json", """{"message":"operator call"}""");
        string? id = null;
        for (var wait = Stopwatch.StartNew(); id is null && wait.Elapsed < TimeSpan.FromSeconds(90); await Task.Delay(250))
        {
            CliResult list = await h.OnlineAsync("approvals", "list", "-o", "json");
            using JsonDocument doc = JsonDocument.Parse(list.Stdout);
            id = doc.RootElement.GetProperty("approvals").EnumerateArray()
                .Where(a => Field(a, "status") == "pending" && a.GetRawText().Contains("operator call", StringComparison.Ordinal))
                .Select(a => Field(a, "id")).FirstOrDefault();
        }

        await Assert.That(id).IsNotNull();
        CliResult approved = await h.OnlineAsync("approvals", "approve", id!);
        await Assert.That(approved.ExitCode).IsEqualTo(0).Because(approved.ToString());
        CliResult done = await held;
        await Assert.That(done.ExitCode).IsEqualTo(0).Because(done.ToString());
        await Assert.That(done.Stdout).Contains("operator call");
    }

    [Test]
    public async Task A_denied_tool_is_not_listed_and_is_refused_before_the_ledger()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await StartAsync();
        using JsonDocument doc = await h.TsClientAsync(h.ApiKey, "everything__get-env", "{}", runId: "run-policy-deny");
        string[] tools = [.. doc.RootElement.GetProperty("tools").EnumerateArray().Select(t => t.GetString()!)];
        await Assert.That(tools).Contains("everything__echo");
        await Assert.That(tools).DoesNotContain("everything__get-env");
        await Assert.That(tools.Any(t => t.StartsWith("everything__get-", StringComparison.Ordinal))).IsFalse();
        string error = Field(doc.RootElement, "error");
        await Assert.That(error).Contains("mcp server `everything`: its tool_policy denies tool `get-env`; the call was not made [mcp_tool_denied_by_policy]");

        // The control plane's call path applies the same policy.
        using HttpClient admin = h.Admin();
        admin.DefaultRequestHeaders.Add("X-Kheish-Run-Id", "run-policy-deny");
        using HttpResponseMessage cp = await admin.PostAsync("/v1/runtime/mcp/tools/everything__get-env/call",
            new StringContent("""{"arguments":{}}""", Encoding.UTF8, "application/json"));
        string cpBody = await cp.Content.ReadAsStringAsync();
        await Assert.That(cp.StatusCode).IsEqualTo(HttpStatusCode.Forbidden);
        await Assert.That(cpBody).Contains("mcp_tool_denied_by_policy");

        // Nothing went out, nothing was recorded; the policy is visible in the server list.
        CliResult records = await h.OfflineAsync("-o", "json", "runs", "external-actions", "run-policy-deny");
        await Assert.That(records.ExitCode).IsNotEqualTo(0).Because(records.ToString());
        CliResult servers = await h.OnlineAsync("mcp", "servers", "list", "-o", "json");
        await Assert.That(servers.Stdout).Contains("\"tool_policy\":{\"*\":\"allow\",\"echo\":\"approve\",\"get-*\":\"deny\"}");
        await h.AssertNoLeaksAsync(doc.RootElement.GetRawText(), cpBody, servers.Stdout);
    }

    [Test]
    public async Task A_daemon_killed_while_a_call_is_held_fails_it_and_records_it_abandoned_at_the_next_start()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await StartAsync();
        using TsCall call = StartTsCall(h, "everything__echo", """{"message":"never"}""", "run-restart", timeoutMs: 30_000);
        string id = Field(await WaitForApprovalAsync(h), "id");
        await Assert.That(File.ReadAllText(Path.Combine(h.Dir.StateRoot, "mcp-approvals.json"))).Contains(id);

        await h.RestartAsync(kill: true);
        using JsonDocument result = await call.ResultAsync(h);
        await Assert.That(result.RootElement.TryGetProperty("result", out _)).IsFalse().Because(result.RootElement.GetRawText());

        // The new daemon recorded the abandonment before listening, and knows no such approval.
        string pendingLine = $"approval {id} for everything/echo was still pending when the daemon stopped";
        await Assert.That(await h.Daemon.LogsContainingAsync(pendingLine)).Contains(pendingLine);
        List<JsonElement> ledger = await LedgerAsync(h, "run-restart");
        await Assert.That(ledger.Select(r => $"{Field(r, "kind")}/{Field(r, "phase")}/{Field(r, "outcome")}").ToArray()).IsEquivalentTo(
            ["mcp_tool_approval/started/approval_requested", "mcp_tool_approval/failed/approval_abandoned"], CollectionOrdering.Matching);
        await Assert.That(Field(ledger[1], "lease_id")).IsEqualTo(Field(ledger[0], "lease_id"));
        CliResult approve = await h.OnlineAsync("approvals", "approve", id);
        await Assert.That(approve.ExitCode).IsEqualTo(5).Because(approve.ToString());
        CliResult list = await h.OnlineAsync("approvals", "list");
        await Assert.That(list.Stdout).Contains("no held tool calls");
        await Assert.That(File.ReadAllText(Path.Combine(h.Dir.StateRoot, "mcp-approvals.json")).Contains(id, StringComparison.Ordinal)).IsFalse();

        // A graceful stop ends a held call at once, and the next start records it abandoned too.
        using TsCall held = StartTsCall(h, "everything__echo", """{"message":"stop"}""", "run-restart", timeoutMs: 30_000);
        string second = Field(await WaitForApprovalAsync(h), "id");
        await h.RestartAsync(kill: false);
        using JsonDocument stopped = await held.ResultAsync(h);
        await Assert.That(Field(stopped.RootElement, "error")).Contains("was still held when the daemon stopped");
        ledger = await LedgerAsync(h, "run-restart");
        await Assert.That(ledger.Count(r => Field(r, "outcome") == "approval_abandoned")).IsEqualTo(2);
        await Assert.That(ledger.Any(r => Field(r, "kind") == "mcp_tool_call")).IsFalse();
        string secondLine = $"approval {second} for everything/echo was still pending";
        await Assert.That(await h.Daemon.LogsContainingAsync(secondLine)).Contains(secondLine);

        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot], h.Env);
        McpHarness.Require(verify.ExitCode == 0, verify.ToString());
        await h.AssertNoLeaksAsync(result.RootElement.GetRawText(), stopped.RootElement.GetRawText(), approve.All, list.All);
    }

    [Test]
    public async Task An_api_keys_mcp_tool_policy_tightens_the_servers_and_never_loosens_it()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await StartAsync();

        // A key policy value that is not a policy is refused when the key is made.
        string bad = h.Dir.File("bad-scope.json");
        File.WriteAllText(bad, """{"mcp_tool_policy":{"everything__echo":"ask"}}""");
        CliResult refused = await Support.Cli.RunAsync(["security", "generate-key", "--project-root", h.Project, "--principal", "agent:bad", "--scope-file", bad], h.Env);
        await Assert.That(refused.ExitCode).IsEqualTo(2).Because(refused.ToString());
        await Assert.That(refused.Stderr).Contains("mcp_tool_policy.\"everything__echo\" = \"ask\" is not a policy");

        // Server: * allow, echo approve, get-* deny. The key: allows echo and get-* (no effect:
        // never looser than the server), denies toggle-* (tighter: applies).
        string strict = await h.GenerateKeyAsync("agent:strict",
            """{"mcp_tool_policy":{"everything__echo":"allow","everything__get-*":"allow","everything__toggle-*":"deny"}}""");
        using JsonDocument doc = await h.TsClientAsync(strict, "everything__toggle-simulated-logging", "{}", runId: "run-key-policy");
        string[] tools = [.. doc.RootElement.GetProperty("tools").EnumerateArray().Select(t => t.GetString()!)];
        await Assert.That(tools).Contains("everything__echo");
        await Assert.That(tools.Any(t => t.StartsWith("everything__toggle-", StringComparison.Ordinal))).IsFalse();
        await Assert.That(tools).DoesNotContain("everything__get-env");
        await Assert.That(Field(doc.RootElement, "error")).Contains("mcp server `everything`: this API key's mcp_tool_policy denies tool `toggle-simulated-logging`; the call was not made");

        // The default key still sees and calls it: the key policy is per key.
        using JsonDocument other = await h.TsClientAsync(h.ApiKey, "everything__toggle-simulated-logging", "{}", runId: "run-key-policy-other");
        await Assert.That(other.RootElement.GetProperty("tools").EnumerateArray().Select(t => t.GetString()!).ToArray()).Contains("everything__toggle-simulated-logging");
        await Assert.That(other.RootElement.TryGetProperty("error", out _)).IsFalse().Because(other.RootElement.GetRawText());

        // "allow" in the key cannot turn the server's approve into allow: echo is still held.
        using TsCall held = StartTsCall(h, "everything__echo", """{"message":"still held"}""", "run-key-policy", key: strict);
        JsonElement pending = await WaitForApprovalAsync(h);
        await Assert.That(Field(pending, "principal_id")).IsEqualTo("agent:strict");
        CliResult deny = await h.OnlineAsync("approvals", "deny", Field(pending, "id"), "--reason", "key test");
        await Assert.That(deny.ExitCode).IsEqualTo(0).Because(deny.ToString());
        using JsonDocument heldResult = await held.ResultAsync(h);
        await Assert.That(Field(heldResult.RootElement, "error")).Contains("was denied by control-plane:admin: key test");
        await h.AssertNoLeaksAsync(doc.RootElement.GetRawText(), other.RootElement.GetRawText(), heldResult.RootElement.GetRawText(), refused.All);
    }
}
