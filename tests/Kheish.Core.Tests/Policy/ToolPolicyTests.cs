using System.Text.Json;
using Kheish.Core.Policy;

namespace Kheish.Core.Tests.Policy;

public sealed class ToolPolicyTests
{
    private static ToolPolicy Policy(params (string Key, string Value)[] rules) =>
        ToolPolicy.From(rules.ToDictionary(r => r.Key, r => r.Value, StringComparer.Ordinal));

    [Test]
    public async Task No_policy_allows_every_tool()
    {
        await Assert.That(ToolPolicy.AllowAll.Resolve("anything")).IsEqualTo(ToolDecision.Allow);
        await Assert.That(Policy(("other", "deny")).Resolve("echo")).IsEqualTo(ToolDecision.Allow);
    }

    [Test]
    [Arguments("*", "", true)]
    [Arguments("*", "echo", true)]
    [Arguments("delete_*", "delete_file", true)]
    [Arguments("delete_*", "delete_", true)]
    [Arguments("delete_*", "undelete_file", false)]
    [Arguments("*_file", "read_file", true)]
    [Arguments("*_file", "read_files", false)]
    [Arguments("a*b*c", "aXXbYYc", true)]
    [Arguments("a*b*c", "aXXcYYb", false)]
    [Arguments("echo", "Echo", false)]
    [Arguments("get-*-env", "get-env", false)]
    [Arguments("get-*env", "get-env", true)]
    public async Task Star_matches_any_run_of_characters_and_everything_else_matches_itself(string pattern, string tool, bool expected)
    {
        await Assert.That(ToolPolicy.Matches(pattern, tool)).IsEqualTo(expected);
    }

    [Test]
    public async Task An_exact_name_beats_every_glob()
    {
        ToolPolicy p = Policy(("*", "deny"), ("ech*", "deny"), ("echo", "allow"));
        await Assert.That(p.Resolve("echo", out string? key)).IsEqualTo(ToolDecision.Allow);
        await Assert.That(key).IsEqualTo("echo");
        await Assert.That(p.Resolve("echoes")).IsEqualTo(ToolDecision.Deny);
    }

    [Test]
    public async Task The_glob_with_more_literal_characters_wins()
    {
        ToolPolicy p = Policy(("*", "approve"), ("delete_*", "deny"), ("delete_tmp_*", "allow"));
        await Assert.That(p.Resolve("delete_tmp_x")).IsEqualTo(ToolDecision.Allow);
        await Assert.That(p.Resolve("delete_home")).IsEqualTo(ToolDecision.Deny);
        await Assert.That(p.Resolve("read")).IsEqualTo(ToolDecision.Approve);
    }

    [Test]
    public async Task Equally_specific_globs_resolve_to_the_stricter_decision_whatever_their_order()
    {
        // "get-*" and "*-env" both have four literal characters.
        ToolPolicy a = Policy(("get-*", "allow"), ("*-env", "approve"));
        ToolPolicy b = Policy(("*-env", "approve"), ("get-*", "allow"));
        await Assert.That(a.Resolve("get-env")).IsEqualTo(ToolDecision.Approve);
        await Assert.That(b.Resolve("get-env")).IsEqualTo(ToolDecision.Approve);
        await Assert.That(Policy(("get-*", "deny"), ("*-env", "approve")).Resolve("get-env")).IsEqualTo(ToolDecision.Deny);
    }

    [Test]
    public async Task Check_names_the_key_and_value_of_an_unknown_policy()
    {
        var problems = ToolPolicy.Check(new Dictionary<string, string> { ["echo"] = "maybe", ["ok"] = "allow", ["Deny-me"] = "Deny" }).ToList();
        await Assert.That(problems.Select(p => p.Code).ToArray()).IsEquivalentTo(["mcp_tool_policy_invalid", "mcp_tool_policy_invalid"], CollectionOrdering.Matching);
        await Assert.That(problems[1].Message).IsEqualTo("`tool_policy.\"echo\"` = `maybe` is not a policy: use \"allow\", \"deny\" or \"approve\"");
        await Assert.That(problems[0].Message).Contains("`tool_policy.\"Deny-me\"` = `Deny`");
    }

    [Test]
    public async Task Check_refuses_empty_and_unprintable_keys_without_echoing_them()
    {
        var problems = ToolPolicy.Check(new Dictionary<string, string> { [""] = "deny", ["bad\u001b[31m"] = "deny", [new string('x', 129)] = "deny" }).ToList();
        await Assert.That(problems.Count).IsEqualTo(3);
        await Assert.That(problems.All(p => p.Code == "mcp_tool_policy_key_invalid")).IsTrue();
        await Assert.That(problems.Any(p => p.Message.Contains('\u001b', StringComparison.Ordinal) || p.Message.Contains("xxxxxxxxxx", StringComparison.Ordinal))).IsFalse();
    }

    [Test]
    public async Task The_arguments_digest_ignores_member_order_and_whitespace_but_not_values()
    {
        static Dictionary<string, JsonElement> Args(string json)
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            return doc.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);
        }

        string a = ArgumentsDigest.Of(Args("""{"b": {"y": 1, "x": [2, {"q": "v", "p": null}]}, "a": "hi"}"""));
        string b = ArgumentsDigest.Of(Args("""{"a":"hi","b":{"x":[2,{"p":null,"q":"v"}],"y":1}}"""));
        string c = ArgumentsDigest.Of(Args("""{"a":"hi!","b":{"x":[2,{"p":null,"q":"v"}],"y":1}}"""));
        await Assert.That(a).IsEqualTo(b);
        await Assert.That(a).IsNotEqualTo(c);
        await Assert.That(ArgumentsDigest.Canonical(Args("""{"b": 1, "a": [3, 2]}"""))).IsEqualTo("""{"a":[3,2],"b":1}""");
        await Assert.That(ArgumentsDigest.Of(null)).IsEqualTo(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("{}"u8)));
    }

    [Test]
    [Arguments("approve", "allow", "approve")]
    [Arguments("allow", "approve", "approve")]
    [Arguments("deny", "allow", "deny")]
    [Arguments("approve", "deny", "deny")]
    [Arguments("allow", "allow", "allow")]
    public async Task A_key_policy_combined_with_a_server_policy_never_loosens_it(string server, string key, string expected)
    {
        bool parsed = ToolPolicy.TryParse(server, out ToolDecision s) & ToolPolicy.TryParse(key, out ToolDecision k);
        await Assert.That(parsed).IsTrue();
        await Assert.That(ToolPolicy.Name(ToolPolicy.Stricter(s, k))).IsEqualTo(expected);
    }

    [Test]
    public async Task A_key_scope_with_an_unknown_tool_policy_value_is_invalid()
    {
        var scope = new Kheish.Core.Access.ApiKeyScope(McpToolPolicy: new Dictionary<string, string> { ["everything__echo"] = "approve", ["everything__rm"] = "yes" });
        await Assert.That(scope.Validate()).IsEqualTo("mcp_tool_policy.\"everything__rm\" = \"yes\" is not a policy: use \"allow\", \"deny\" or \"approve\" (a key's policy only tightens its servers' tool_policy)");
        await Assert.That(new Kheish.Core.Access.ApiKeyScope(McpToolPolicy: new Dictionary<string, string> { ["*"] = "approve" }).Validate()).IsNull();
    }
}
