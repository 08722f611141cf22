using System.Text;
using System.Text.Json;
using Kheish.Core.Mcp;
using Kheish.Core.Policy;

namespace Kheish.Core.Tests.Policy;

/// <summary><c>hook:&lt;name&gt;</c> tool_policy values and the <c>hooks</c> they name, in the config file and managed definitions.</summary>
public sealed class PolicyHookConfigTests
{
    private static McpCheckResult Check(string toml) =>
        McpConfigFile.Check(Encoding.UTF8.GetBytes(toml), "mcp.toml", _ => true);

    [Test]
    public async Task A_hook_policy_and_its_hook_are_read_from_the_config_file()
    {
        McpCheckResult r = Check("""
            [mcp_servers.everything]
            command = "node"
            tool_policy = { "*" = "allow", "echo" = "hook:check" }

            [mcp_servers.everything.hooks.check]
            command = ["/usr/local/bin/check", "--strict"]
            timeout_ms = 1500
            """);

        await Assert.That(r.IsOk).IsTrue().Because(string.Join("; ", r.Problems.Select(p => p.Message)));
        McpServerDefinition def = r.Servers!.Single();
        await Assert.That(def.DecisionFor("echo", out PolicyHook? hook, out string? name)).IsEqualTo(ToolDecision.Hook);
        await Assert.That(name).IsEqualTo("check");
        await Assert.That(hook!.Command!.ToArray()).IsEquivalentTo(["/usr/local/bin/check", "--strict"], CollectionOrdering.Matching);
        await Assert.That(hook.Timeout).IsEqualTo(TimeSpan.FromMilliseconds(1500));
        await Assert.That(def.DecisionFor("other")).IsEqualTo(ToolDecision.Allow);
    }

    [Test]
    public async Task A_hook_without_timeout_waits_five_seconds()
    {
        McpServerDefinition def = Check("""
            [mcp_servers.a]
            command = "node"
            tool_policy = { "*" = "hook:h" }
            hooks = { h = { command = ["check"] } }
            """).Servers!.Single();
        await Assert.That(def.Hooks!["h"].Timeout).IsEqualTo(TimeSpan.FromSeconds(5));
    }

    [Test]
    public async Task Every_problem_of_hooks_and_hook_references_is_reported_precisely()
    {
        McpCheckResult r = Check("""
            [mcp_servers.s]
            command = "node"
            tool_policy = { "a" = "hook:missing", "b" = "hook:bad name", "c" = "hook:" }

            [mcp_servers.s.hooks.nocmd]
            timeout_ms = 0

            [mcp_servers.s.hooks.rel]
            command = ["./check"]
            timeout_ms = 60001
            shell = true
            """);
        await Assert.That(r.IsOk).IsFalse();
        string[] messages = [.. r.Problems.Select(p => p.Message)];
        await Assert.That(messages).IsEquivalentTo(
        [
            "mcp server `s`: unknown field `hooks.rel.shell` (a hook has `command` and `timeout_ms`)",
            "mcp server `s`: `hooks.nocmd.command` is required: an array of the program and its arguments, e.g. [\"/usr/local/bin/check-call\", \"--strict\"]",
            "mcp server `s`: `hooks.rel.command[0]` must be an absolute path or a bare name looked up on PATH (a relative path depends on the daemon's working directory)",
            "mcp server `s`: `hooks.rel.timeout_ms` = 60001 is out of range: give 1 to 60000 (default 5000)",
            "mcp server `s`: `tool_policy.\"a\"` = `hook:missing` names hook `missing`, which is not in this server's `hooks` (defined: nocmd, rel)",
            "mcp server `s`: `tool_policy.\"b\"` = `hook:bad name`: a hook name is 1-64 letters, digits, '-' or '_'",
            "mcp server `s`: `tool_policy.\"c\"` = `hook:`: a hook name is 1-64 letters, digits, '-' or '_'",
        ], CollectionOrdering.Any);
    }

    [Test]
    public async Task A_hook_reference_without_any_hooks_says_how_to_define_one()
    {
        McpCheckResult r = Check("""
            [mcp_servers.s]
            command = "node"
            tool_policy = { "a" = "hook:check" }
            """);
        await Assert.That(r.Problems.Single().Code).IsEqualTo("mcp_tool_policy_hook_unknown");
        await Assert.That(r.Problems.Single().Message).Contains("the server defines no `hooks`; add [mcp_servers.<name>.hooks.check]");
    }

    [Test]
    public async Task A_hook_command_of_the_wrong_type_is_refused()
    {
        McpCheckResult r = Check("""
            [mcp_servers.s]
            command = "node"
            hooks = { h = { command = "/bin/check --x" } }
            """);
        await Assert.That(r.Problems.Select(p => p.Message).ToArray())
            .Contains("mcp server `s`: `hooks.h.command` must be an array of strings (the program and its arguments)");
    }

    [Test]
    public async Task An_api_key_policy_cannot_name_a_hook()
    {
        var scope = new Kheish.Core.Access.ApiKeyScope(McpToolPolicy: new Dictionary<string, string> { ["s__a"] = "hook:check" });
        await Assert.That(scope.Validate()).Contains("is not a policy: use \"allow\", \"deny\" or \"approve\"");
        await Assert.That(ToolPolicy.From(scope.McpToolPolicy, allowHooks: false).Resolve("s__a")).IsEqualTo(ToolDecision.Allow);
    }

    [Test]
    public async Task Hooks_round_trip_through_the_managed_servers_file_shape()
    {
        var def = new McpServerDefinition
        {
            Name = "m",
            Command = "node",
            ToolPolicy = new Dictionary<string, string> { ["echo"] = "hook:h" },
            Hooks = new Dictionary<string, PolicyHook> { ["h"] = new() { Command = ["/bin/check"], TimeoutMs = 200 } },
        };
        string json = JsonSerializer.Serialize(def, McpJsonContext.Default.McpServerDefinition);
        await Assert.That(json).Contains("\"hooks\":{\"h\":{\"command\":[\"/bin/check\"],\"timeout_ms\":200}}");
        McpServerDefinition back = JsonSerializer.Deserialize(json, McpJsonContext.Default.McpServerDefinition)!;
        var problems = new List<McpProblem>();
        McpServerValidator.Validate(back, problems);
        await Assert.That(problems).IsEmpty();
        await Assert.That(back.DecisionFor("echo", out PolicyHook? hook, out _)).IsEqualTo(ToolDecision.Hook);
        await Assert.That(hook!.TimeoutMs).IsEqualTo(200);
    }

    [Test]
    public async Task The_hook_input_holds_the_call_and_its_ids_and_nothing_else()
    {
        using JsonDocument args = JsonDocument.Parse("""{"b":1,"a":"x"}""");
        byte[] input = PolicyHookRunner.Input(new PolicyHookCall("h", "srv", "echo", "abc", args.RootElement.EnumerateObject().Select(p => new KeyValuePair<string, JsonElement>(p.Name, p.Value)), "agent:coder")
        {
            RunId = "run-1",
        });
        await Assert.That(Encoding.UTF8.GetString(input)).IsEqualTo(
            """{"hook":"h","server":"srv","tool":"echo","name":"srv__echo","args_digest":"abc","arguments":{"b":1,"a":"x"},"principal_id":"agent:coder","run_id":"run-1"}""");
    }

    [Test]
    public async Task A_hook_gets_a_cleared_environment_with_only_path_and_lang()
    {
        var daemonEnv = new Dictionary<string, string> { ["PATH"] = "/bin", ["LANG"] = "C", ["HOME"] = "/root", ["KHEISH_AUTH_STORE_MASTER_KEY"] = "secret", ["AWS_SECRET_ACCESS_KEY"] = "x" };
        var info = PolicyHookRunner.StartInfo(new PolicyHook { Command = ["check"] }, "/bin/kheish-daemon", n => daemonEnv.GetValueOrDefault(n));
        await Assert.That(info.Environment.Keys.Order(StringComparer.Ordinal).ToArray()).IsEquivalentTo(["DOTNET_EnableDiagnostics", "LANG", "PATH"], CollectionOrdering.Matching);
        await Assert.That(info.ArgumentList[0]).IsEqualTo(McpChildShim.Verb);
        await Assert.That(info.ArgumentList[2]).IsEqualTo("check");
    }
}
