using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Kheish.Daemon.Tests.Mcp;

/// <summary>
/// Hook-driven tool policy end to end: server-everything's <c>echo</c> is <c>hook:check</c>, a
/// shell script that records its stdin, environment and pid, and answers according to the message
/// (allow, deny, approve, garbage, exit 1, too much output, or a sleep past its timeout).
/// </summary>
public sealed class McpPolicyHookTests
{
    private const string HookScript = """
        #!/bin/sh
        out="$1"
        input=$(cat)
        printf '%s' "$input" > "$out/stdin-$$.json"
        env > "$out/env-$$.txt"
        case "$input" in
          *please-allow*) echo allow ;;
          *please-deny*) echo deny ;;
          *please-approve*) printf 'approve\n' ;;
          *please-garbage*) echo 'yes, sure' ;;
          *please-exit*) echo allow; exit 1 ;;
          *please-big*) head -c 10000 /dev/zero | tr '\0' 'a' ;;
          *please-sleep*)
            sleep 300 &
            echo "$$ $!" > "$out/sleeping.pids"
            wait ;;
          *) echo deny ;;
        esac
        """;

    private static bool NoPeers(out string reason) => McpHarness.NoPeers(out reason);

    private static async Task<(McpHarness H, string Out)> StartAsync()
    {
        string dir = Path.Combine(Path.GetTempPath(), "kheish-hook-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        string script = Path.Combine(dir, "hook.sh");
        File.WriteAllText(script, HookScript);
        string output = Path.Combine(dir, "out");
        Directory.CreateDirectory(output);
        McpHarness h = await McpHarness.StartAsync(extraToml: $$"""
            tool_policy = { "*" = "allow", "echo" = "hook:check", "get-env" = "deny" }
            approval_timeout_sec = 120

            [mcp_servers.everything.hooks.check]
            command = ["/bin/sh", "{{script}}", "{{output}}"]
            timeout_ms = 10000

            """);
        return (h, output);
    }

    private static string Field(JsonElement e, string name) => e.TryGetProperty(name, out JsonElement v) ? v.GetString() ?? "" : "";

    private static async Task<string[]> LedgerShapeAsync(McpHarness h, string runId)
    {
        CliResult records = await h.SettledActionsAsync(runId);
        McpHarness.Require(records.ExitCode == 0, records.ToString());
        using JsonDocument doc = JsonDocument.Parse(records.Stdout);
        return [.. doc.RootElement.GetProperty("external_actions").EnumerateArray()
            .Select(r => $"{Field(r, "kind")}/{Field(r, "phase")}/{Field(r, "outcome")}")];
    }

    private static async Task<string> CallErrorAsync(McpHarness h, string message, string runId)
    {
        using JsonDocument doc = await h.TsClientAsync(h.ApiKey, "everything__echo", JsonSerializer.Serialize(new Dictionary<string, string> { ["message"] = message }), runId);
        McpHarness.Require(doc.RootElement.TryGetProperty("error", out JsonElement error), doc.RootElement.GetRawText() + "\n" + h.Daemon.Logs);
        return error.GetString()!;
    }

    private static bool Alive(int pid) => Support.ProcessProbe.Alive(pid);

    [Test]
    public async Task A_hook_that_answers_allow_lets_the_call_through_and_its_decision_is_ledgered_before_the_call()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        (McpHarness h, string output) = await StartAsync();
        await using McpHarness owned = h;

        using JsonDocument doc = await h.TsClientAsync(h.ApiKey, "everything__echo", """{"message":"please-allow"}""", "run-hook-allow");
        JsonElement root = doc.RootElement;
        McpHarness.Require(!root.TryGetProperty("error", out _), root.GetRawText() + "\n" + h.Daemon.Logs);
        await Assert.That(root.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString()).IsEqualTo("Echo: please-allow");
        // A hook-decided tool is listed (the hook decides calls); a denied one is not.
        string[] tools = [.. root.GetProperty("tools").EnumerateArray().Select(t => t.GetString()!)];
        await Assert.That(tools).Contains("everything__echo");
        await Assert.That(tools).DoesNotContain("everything__get-env");

        await Assert.That(await LedgerShapeAsync(h, "run-hook-allow")).IsEquivalentTo(
        [
            "mcp_tool_policy_hook/started/hook:check requested",
            "mcp_tool_policy_hook/completed/hook:check allow",
            "mcp_tool_call/started/",
            "mcp_tool_call/completed/ok",
        ], CollectionOrdering.Matching);

        // What the hook was given: the call, its digest, the principal and ids; and nothing of the daemon's environment.
        string stdin = File.ReadAllText(Directory.GetFiles(output, "stdin-*.json").Single());
        using JsonDocument input = JsonDocument.Parse(stdin);
        await Assert.That(Field(input.RootElement, "hook")).IsEqualTo("check");
        await Assert.That(Field(input.RootElement, "server")).IsEqualTo("everything");
        await Assert.That(Field(input.RootElement, "tool")).IsEqualTo("echo");
        await Assert.That(Field(input.RootElement, "name")).IsEqualTo("everything__echo");
        await Assert.That(Field(input.RootElement, "principal_id")).IsEqualTo("agent:coder");
        await Assert.That(Field(input.RootElement, "run_id")).IsEqualTo("run-hook-allow");
        await Assert.That(input.RootElement.GetProperty("arguments").GetProperty("message").GetString()).IsEqualTo("please-allow");
        await Assert.That(Field(input.RootElement, "args_digest"))
            .IsEqualTo(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes("""{"message":"please-allow"}"""))));
        string[] envNames = [.. File.ReadAllLines(Directory.GetFiles(output, "env-*.txt").Single()).Select(l => l.Split('=')[0]).Where(n => n.Length > 0)];
        await Assert.That(envNames.Except(["PATH", "LANG", "PWD", "SHLVL", "_", "OLDPWD"]).ToArray()).IsEmpty().Because(string.Join(",", envNames));

        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot], h.Env);
        McpHarness.Require(verify.ExitCode == 0, verify.ToString());
        foreach (string secret in h.Secrets)
        {
            Canary.AssertAbsent(secret, stdin + File.ReadAllText(Directory.GetFiles(output, "env-*.txt").Single()), "the hook's stdin and environment");
        }

        await h.AssertNoLeaksAsync(root.GetRawText());
        Directory.Delete(Path.GetDirectoryName(output)!, recursive: true);
    }

    [Test]
    public async Task A_hook_that_denies_fails_exits_non_zero_prints_garbage_or_too_much_denies_and_nothing_is_called()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        (McpHarness h, string output) = await StartAsync();
        await using McpHarness owned = h;

        (string Message, string Says, string Outcome, string Phase)[] cases =
        [
            ("please-deny", "policy hook `check` answered deny; the call to `echo` was not made", "deny", "completed"),
            ("please-garbage", "policy hook `check` answered something other than allow, deny or approve, which denies (fail closed)", "hook_invalid_answer", "failed"),
            ("please-exit", "policy hook `check` exited with code 1, which denies (fail closed)", "hook_exit_1", "failed"),
            ("please-big", "policy hook `check` printed more than 4096 bytes, which denies (fail closed)", "hook_output_too_large", "failed"),
        ];
        var errors = new List<string>();
        foreach (var (message, says, outcome, phase) in cases)
        {
            string run = "run-" + message;
            string error = await CallErrorAsync(h, message, run);
            errors.Add(error);
            await Assert.That(error).Contains(says);
            await Assert.That(error).Contains("[mcp_tool_denied_by_hook]");
            // Decided and recorded; no tool call record: the upstream was never asked.
            await Assert.That(await LedgerShapeAsync(h, run)).IsEquivalentTo(
                ["mcp_tool_policy_hook/started/hook:check requested", $"mcp_tool_policy_hook/{phase}/hook:check {outcome}"], CollectionOrdering.Matching);
        }

        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot], h.Env);
        McpHarness.Require(verify.ExitCode == 0, verify.ToString());
        await h.AssertNoLeaksAsync([.. errors]);
        Directory.Delete(Path.GetDirectoryName(output)!, recursive: true);
    }

    [Test]
    public async Task A_hook_that_sleeps_past_its_timeout_denies_and_is_killed_with_everything_it_started()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        (McpHarness h, string output) = await StartAsync();
        await using McpHarness owned = h;

        var clock = Stopwatch.StartNew();
        string error = await CallErrorAsync(h, "please-sleep", "run-hook-sleep");
        clock.Stop();
        await Assert.That(error).Contains("policy hook `check` gave no answer within 10000 ms (timeout_ms) and was killed, which denies (fail closed)");
        await Assert.That(clock.Elapsed).IsLessThan(TimeSpan.FromSeconds(60));

        // The hook and its background sleep (same process group) are gone once the call is answered.
        int[] pids = [.. File.ReadAllText(Path.Combine(output, "sleeping.pids")).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)];
        await Assert.That(pids.Length).IsEqualTo(2);
        var deadline = Stopwatch.StartNew();
        while (pids.Any(Alive) && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50);
        }

        await Assert.That(pids.Where(Alive).ToArray()).IsEmpty();
        await Assert.That(await LedgerShapeAsync(h, "run-hook-sleep")).IsEquivalentTo(
            ["mcp_tool_policy_hook/started/hook:check requested", "mcp_tool_policy_hook/failed/hook:check hook_timeout"], CollectionOrdering.Matching);
        await h.AssertNoLeaksAsync(error);
        Directory.Delete(Path.GetDirectoryName(output)!, recursive: true);
    }

    [Test]
    public async Task A_key_policy_only_tightens_a_hook_deny_skips_the_hook_and_approve_holds_a_call_the_hook_allowed()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        (McpHarness h, string output) = await StartAsync();
        await using McpHarness owned = h;
        string denyKey = await h.GenerateKeyAsync("agent:denied-echo", """{"mcp_tool_policy":{"everything__echo":"deny"}}""");
        string approveKey = await h.GenerateKeyAsync("agent:approve-echo", """{"mcp_tool_policy":{"everything__echo":"approve"}}""");

        using JsonDocument denied = await h.TsClientAsync(denyKey, "everything__echo", """{"message":"please-allow"}""", "run-key-deny");
        await Assert.That(denied.RootElement.GetProperty("error").GetString()!).Contains("this API key's mcp_tool_policy denies tool `echo`");
        // The hook was never asked, and nothing was recorded or called.
        await Assert.That(Directory.GetFiles(output, "stdin-*.json")).IsEmpty();
        CliResult none = await h.OfflineAsync("-o", "json", "runs", "external-actions", "run-key-deny");
        await Assert.That(none.Stdout).Contains("\"code\":\"run_not_found\"").Because(none.ToString());

        await using McpClient client = await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = h.McpUri,
                TransportMode = HttpTransportMode.StreamableHttp,
                AdditionalHeaders = new Dictionary<string, string> { ["X-API-Key"] = approveKey, ["X-Kheish-Run-Id"] = "run-key-approve" },
            }),
            new McpClientOptions { DiscoverProbeTimeout = TimeSpan.FromSeconds(30), InitializationTimeout = TimeSpan.FromSeconds(60) });
        Task<CallToolResult> call = client.CallToolAsync("everything__echo", new Dictionary<string, object?> { ["message"] = "please-allow" }).AsTask();
        string id = await PendingApprovalAsync(h);
        CliResult deny = await h.OnlineAsync("approvals", "deny", id);
        await Assert.That(deny.ExitCode).IsEqualTo(0).Because(deny.ToString());
        McpProtocolException error = (await Assert.That(async () => await call.WaitAsync(TimeSpan.FromSeconds(60))).Throws<McpProtocolException>())!;
        await Assert.That(error.Message).Contains("[mcp_approval_denied]");
        await Assert.That(await LedgerShapeAsync(h, "run-key-approve")).IsEquivalentTo(
        [
            "mcp_tool_policy_hook/started/hook:check requested",
            "mcp_tool_policy_hook/completed/hook:check allow",
            "mcp_tool_approval/started/approval_requested",
            "mcp_tool_approval/completed/denied",
        ], CollectionOrdering.Matching);
        await h.AssertNoLeaksAsync(denied.RootElement.GetRawText(), error.Message);
        Directory.Delete(Path.GetDirectoryName(output)!, recursive: true);
    }

    private static async Task<string> PendingApprovalAsync(McpHarness h)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(90))
        {
            CliResult list = await h.OnlineAsync("approvals", "list", "-o", "json");
            McpHarness.Require(list.ExitCode == 0, list.ToString());
            using JsonDocument doc = JsonDocument.Parse(list.Stdout);
            string? id = doc.RootElement.GetProperty("approvals").EnumerateArray().Where(a => Field(a, "status") == "pending").Select(a => Field(a, "id")).FirstOrDefault();
            if (id is not null)
            {
                return id;
            }

            await Task.Delay(250);
        }

        Assert.Fail("no approval was requested\n" + h.Daemon.Logs);
        return "";
    }

    [Test]
    public async Task A_hook_that_answers_approve_holds_the_call_until_an_operator_approves_it_from_the_cli()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        (McpHarness h, string output) = await StartAsync();
        await using McpHarness owned = h;
        await using McpClient client = await McpClient.CreateAsync(
            new HttpClientTransport(new HttpClientTransportOptions
            {
                Endpoint = h.McpUri,
                TransportMode = HttpTransportMode.StreamableHttp,
                AdditionalHeaders = new Dictionary<string, string> { ["X-API-Key"] = h.ApiKey, ["X-Kheish-Run-Id"] = "run-hook-approve" },
            }),
            new McpClientOptions { DiscoverProbeTimeout = TimeSpan.FromSeconds(30), InitializationTimeout = TimeSpan.FromSeconds(60) });
        Task<CallToolResult> call = client.CallToolAsync("everything__echo", new Dictionary<string, object?> { ["message"] = "please-approve" }).AsTask();

        string id = "";
        var deadline = Stopwatch.StartNew();
        while (id.Length == 0 && deadline.Elapsed < TimeSpan.FromSeconds(90))
        {
            CliResult list = await h.OnlineAsync("approvals", "list", "-o", "json");
            McpHarness.Require(list.ExitCode == 0, list.ToString());
            using JsonDocument doc = JsonDocument.Parse(list.Stdout);
            id = doc.RootElement.GetProperty("approvals").EnumerateArray().Where(a => Field(a, "status") == "pending").Select(a => Field(a, "id")).FirstOrDefault() ?? "";
            if (id.Length == 0)
            {
                await Task.Delay(250);
            }
        }

        McpHarness.Require(id.Length > 0, "no approval was requested\n" + h.Daemon.Logs);
        await Assert.That(call.IsCompleted).IsFalse();
        CliResult approved = await h.OnlineAsync("approvals", "approve", id);
        await Assert.That(approved.ExitCode).IsEqualTo(0).Because(approved.ToString());
        CallToolResult result = await call.WaitAsync(TimeSpan.FromSeconds(60));
        await Assert.That(((TextContentBlock)result.Content[0]).Text).IsEqualTo("Echo: please-approve");

        await Assert.That(await LedgerShapeAsync(h, "run-hook-approve")).IsEquivalentTo(
        [
            "mcp_tool_policy_hook/started/hook:check requested",
            "mcp_tool_policy_hook/completed/hook:check approve",
            "mcp_tool_approval/started/approval_requested",
            "mcp_tool_approval/completed/approved",
            "mcp_tool_call/started/",
            "mcp_tool_call/completed/ok",
        ], CollectionOrdering.Matching);
        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot], h.Env);
        McpHarness.Require(verify.ExitCode == 0, verify.ToString());
        await h.AssertNoLeaksAsync(approved.All);
        Directory.Delete(Path.GetDirectoryName(output)!, recursive: true);
    }

    [Test]
    public async Task A_server_added_with_mcp_servers_add_and_a_hook_flag_asks_that_hook_and_bad_hook_flags_change_nothing()
    {
        if (NoPeers(out string why)) { Skip.Test(why); return; }
        await using McpHarness h = await McpHarness.StartAsync();
        string dir = Path.Combine(Path.GetTempPath(), "kheish-hook-" + Guid.NewGuid().ToString("N"));
        string output = Path.Combine(dir, "out");
        Directory.CreateDirectory(output);
        string script = Path.Combine(dir, "hook.sh");
        File.WriteAllText(script, HookScript);
        string managed = Path.Combine(h.Dir.StateRoot, "mcp-servers.json");
        string[] server = ["mcp", "servers", "add", "guarded", "--command", "node", "--arg", h.EverythingEntry, "--arg", "stdio", "--tool-policy", "echo=hook:check"];

        // Refused by the CLI or by the daemon's check, naming the flag or the hook: nothing is saved.
        CliResult orphan = await h.OnlineAsync([.. server, "--hook", "check=/bin/true", "--hook-timeout-ms", "other=500"]);
        await Assert.That(orphan.ExitCode).IsEqualTo(2).Because(orphan.ToString());
        await Assert.That(orphan.All).Contains("there is no --hook other=COMMAND");
        CliResult notArray = await h.OnlineAsync([.. server, "--hook", "check=[\"/bin/sh\","]);
        await Assert.That(notArray.ExitCode).IsEqualTo(2).Because(notArray.ToString());
        await Assert.That(notArray.All).Contains("not a non-empty JSON array of strings");
        CliResult undefined = await h.OnlineAsync([.. server, "--hook", "other=/bin/true"]);
        await Assert.That(undefined.ExitCode).IsEqualTo(2).Because(undefined.ToString());
        await Assert.That(undefined.All).Contains("names hook `check`, which is not in this server's `hooks`");
        await Assert.That(File.Exists(managed)).IsFalse();

        string command = JsonSerializer.Serialize(new[] { "/bin/sh", script, output });
        CliResult added = await h.OnlineAsync([.. server, "--hook", "check=" + command, "--hook-timeout-ms", "check=10000"]);
        McpHarness.Require(added.ExitCode == 0, added.ToString());
        using (JsonDocument stored = JsonDocument.Parse(File.ReadAllText(managed)))
        {
            string text = stored.RootElement.GetRawText();
            await Assert.That(text).Contains("\"hook:check\"");
            await Assert.That(text).Contains("\"timeout_ms\":10000");
            await Assert.That(text).Contains(JsonSerializer.Serialize(script));
        }

        CliResult denied = await h.OnlineAsync("mcp", "call", "guarded__echo", "--args-json", """{"message":"please-deny"}""");
        await Assert.That(denied.ExitCode).IsNotEqualTo(0);
        await Assert.That(denied.All).Contains("policy hook `check` answered deny");
        CliResult allowed = await h.OnlineAsync("mcp", "call", "guarded__echo", "--args-json", """{"message":"please-allow"}""");
        McpHarness.Require(allowed.ExitCode == 0, allowed.ToString() + "\n" + h.Daemon.Logs);
        await Assert.That(allowed.Stdout).Contains("Echo: please-allow");
        await Assert.That(Directory.GetFiles(output, "stdin-*.json").Length).IsEqualTo(2);
        await h.AssertNoLeaksAsync(denied.All, allowed.All);
        Directory.Delete(dir, recursive: true);
    }
}
