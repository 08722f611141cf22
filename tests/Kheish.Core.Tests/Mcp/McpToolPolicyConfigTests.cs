using System.Text;
using System.Text.Json;
using Kheish.Core.Mcp;
using Kheish.Core.Policy;

namespace Kheish.Core.Tests.Mcp;

/// <summary><c>tool_policy</c> and <c>approval_timeout_sec</c> in the MCP config file and in daemon-managed definitions.</summary>
public sealed class McpToolPolicyConfigTests
{
    private static McpCheckResult Check(string toml) =>
        McpConfigFile.Check(Encoding.UTF8.GetBytes(toml), "mcp.toml", _ => true);

    [Test]
    public async Task A_policy_table_and_timeout_are_read_from_the_config_file()
    {
        McpCheckResult r = Check("""
            [mcp_servers.everything]
            command = "node"
            tool_policy = { "*" = "allow", "echo" = "approve", "get-*" = "deny" }
            approval_timeout_sec = 20
            """);

        await Assert.That(r.IsOk).IsTrue();
        McpServerDefinition def = r.Servers!.Single();
        await Assert.That(def.ApprovalTimeout).IsEqualTo(TimeSpan.FromSeconds(20));
        await Assert.That(def.DecisionFor("echo")).IsEqualTo(ToolDecision.Approve);
        await Assert.That(def.DecisionFor("get-env")).IsEqualTo(ToolDecision.Deny);
        await Assert.That(def.DecisionFor("add")).IsEqualTo(ToolDecision.Allow);
    }

    [Test]
    public async Task Without_a_policy_every_tool_is_allowed_and_approvals_wait_300_seconds()
    {
        McpServerDefinition def = Check("""
            [mcp_servers.a]
            command = "node"
            """).Servers!.Single();
        await Assert.That(def.DecisionFor("anything")).IsEqualTo(ToolDecision.Allow);
        await Assert.That(def.ApprovalTimeout).IsEqualTo(TimeSpan.FromSeconds(300));
    }

    [Test]
    public async Task An_unknown_policy_value_is_refused_naming_server_key_and_value()
    {
        McpCheckResult r = Check("""
            [mcp_servers.everything]
            command = "node"
            tool_policy = { "echo" = "ask" }
            """);
        await Assert.That(r.IsOk).IsFalse();
        await Assert.That(r.Problems.Single().Code).IsEqualTo("mcp_tool_policy_invalid");
        await Assert.That(r.Problems.Single().Message)
            .IsEqualTo("mcp server `everything`: `tool_policy.\"echo\"` = `ask` is not a policy: use \"allow\", \"deny\", \"approve\" or \"hook:<name>\"");
    }

    [Test]
    public async Task A_non_string_policy_value_and_a_bad_timeout_are_refused()
    {
        McpCheckResult r = Check("""
            [mcp_servers.everything]
            command = "node"
            tool_policy = { "echo" = true }
            approval_timeout_sec = 0
            """);
        string[] messages = [.. r.Problems.Select(p => p.Message)];
        await Assert.That(messages).Contains("mcp server `everything`: `tool_policy.echo` must be a string");
        await Assert.That(messages).Contains("mcp server `everything`: `approval_timeout_sec` must be between 1 and 3600 seconds");
    }

    [Test]
    public async Task A_managed_definition_is_validated_by_the_same_rules()
    {
        var def = new McpServerDefinition
        {
            Name = "m",
            Command = "node",
            ToolPolicy = new Dictionary<string, string> { ["echo"] = "approve", ["rm"] = "refuse" },
            ApprovalTimeoutSec = 7200,
        };
        var problems = new List<McpProblem>();
        McpServerValidator.Validate(def, problems);
        await Assert.That(problems.Select(p => p.Message).ToArray()).IsEquivalentTo(
        [
            "mcp server `m`: `approval_timeout_sec` must be between 1 and 3600 seconds",
            "mcp server `m`: `tool_policy.\"rm\"` = `refuse` is not a policy: use \"allow\", \"deny\", \"approve\" or \"hook:<name>\"",
        ], CollectionOrdering.Matching);
    }

    [Test]
    public async Task The_policy_round_trips_through_the_managed_servers_file_shape()
    {
        var def = new McpServerDefinition
        {
            Name = "m",
            Command = "node",
            ToolPolicy = new Dictionary<string, string> { ["echo"] = "approve" },
            ApprovalTimeoutSec = 30,
        };
        string json = JsonSerializer.Serialize(def, McpJsonContext.Default.McpServerDefinition);
        await Assert.That(json).Contains("\"tool_policy\":{\"echo\":\"approve\"}");
        await Assert.That(json).Contains("\"approval_timeout_sec\":30");
        McpServerDefinition back = JsonSerializer.Deserialize(json, McpJsonContext.Default.McpServerDefinition)!;
        await Assert.That(back.DecisionFor("echo")).IsEqualTo(ToolDecision.Approve);
    }
}
