using System.Text;
using Kheish.Core.Mcp;

namespace Kheish.Core.Tests.Mcp;

public sealed class McpConfigFileTests
{
    private static McpCheckResult Check(string toml, Func<string, bool>? exists = null) =>
        McpConfigFile.Check(Encoding.UTF8.GetBytes(toml), "mcp.toml", exists ?? (_ => true));

    private static string[] Codes(McpCheckResult r) => [.. r.Problems.Select(p => p.Code)];

    [Test]
    public async Task A_codex_shaped_file_yields_stdio_and_http_servers()
    {
        McpCheckResult r = Check("""
            [mcp_servers.everything]
            command = "node"
            args = ["index.js", "stdio"]
            env = { PLAIN = "1" }
            env_secret_refs = { TOKEN = "mcp.everything.TOKEN" }
            startup_timeout_sec = 20
            tool_timeout_sec = 60

            [mcp_servers.remote]
            url = "https://mcp.example.com/mcp"
            bearer_token_secret_ref = "mcp.remote.TOKEN"
            http_headers = { "X-Team" = "core" }
            """);

        await Assert.That(r.IsOk).IsTrue();
        McpServerDefinition stdio = r.Servers!.Single(s => s.Name == "everything");
        await Assert.That(stdio.Transport).IsEqualTo(McpTransport.Stdio);
        await Assert.That(stdio.Args!).IsEquivalentTo(["index.js", "stdio"], CollectionOrdering.Matching);
        await Assert.That(stdio.EnvSecretRefs!["TOKEN"]).IsEqualTo("mcp.everything.TOKEN");
        await Assert.That(stdio.ToolTimeout).IsEqualTo(TimeSpan.FromSeconds(60));
        McpServerDefinition http = r.Servers!.Single(s => s.Name == "remote");
        await Assert.That(http.Transport).IsEqualTo(McpTransport.Http);
        await Assert.That(http.SecretRefs()).IsEquivalentTo(["mcp.remote.TOKEN"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Every_problem_is_reported_at_once()
    {
        McpCheckResult r = Check("""
            [mcp_servers.mixed]
            command = "node"
            url = "https://x.example/mcp"

            [mcp_servers.inherit]
            command = "node"
            inherit_env = true
            env_secret_refs = { TOKEN = "mcp.inherit.TOKEN" }

            [mcp_servers.headers]
            url = "https://x.example/mcp"
            http_headers = { Authorization = "Bearer plain" }
            bearer_token_secret_ref = "mcp.headers.TOKEN"

            [mcp_servers.twice]
            url = "https://x.example/mcp"
            http_headers = { "X-Key" = "a" }
            http_header_secret_refs = { "x-key" = "mcp.twice.KEY" }

            [mcp_servers.unknown]
            command = "node"
            colour = "blue"
            """);

        await Assert.That(r.IsOk).IsFalse();
        string[] codes = Codes(r);
        await Assert.That(codes).Contains("mcp_server_transport");
        await Assert.That(codes).Contains("mcp_inherit_env_refused");
        await Assert.That(codes).Contains("mcp_authorization_conflict");
        await Assert.That(codes).Contains("mcp_header_two_sources");
        await Assert.That(codes).Contains("mcp_config_unknown_field");
        await Assert.That(r.Problems.Any(p => p.Message.Contains("env_secret_refs", StringComparison.Ordinal) && p.Server == "inherit")).IsTrue();
    }

    [Test]
    public async Task Stdio_and_http_fields_never_mix()
    {
        McpCheckResult r = Check("""
            [mcp_servers.a]
            command = "node"
            http_headers = { "X-A" = "1" }

            [mcp_servers.b]
            url = "https://x.example/mcp"
            env = { A = "1" }
            """);
        await Assert.That(r.Problems.Count(p => p.Code == "mcp_server_fields_mixed")).IsEqualTo(2);
    }

    [Test]
    public async Task A_missing_slot_names_the_server_and_the_slot()
    {
        McpCheckResult r = Check("""
            [mcp_servers.linear]
            command = "npx"
            env_secret_refs = { LINEAR_API_KEY = "mcp.linear.LINEAR_API_KEY" }
            """, _ => false);
        await Assert.That(r.Problems.Count).IsEqualTo(1);
        McpProblem p = r.Problems[0];
        await Assert.That(p.Code).IsEqualTo("mcp_secret_ref_missing");
        await Assert.That(p.Message).Contains("`linear`");
        await Assert.That(p.Message).Contains("mcp.linear.LINEAR_API_KEY");
    }

    [Test]
    public async Task Syntax_errors_give_line_and_column_but_never_file_content()
    {
        McpCheckResult r = Check("[mcp_servers.a]\ncommand = \"sk-secret-value\n");
        await Assert.That(r.Problems.Count).IsEqualTo(1);
        McpProblem p = r.Problems[0];
        await Assert.That(p.Code).IsEqualTo("toml_invalid");
        await Assert.That(p.Message).Contains("line 2");
        await Assert.That(p.Message).DoesNotContain("sk-secret-value");
    }

    [Test]
    public async Task Plain_values_are_never_quoted_in_problems()
    {
        McpCheckResult r = Check("""
            [mcp_servers.h]
            url = "https://x.example/mcp"
            http_headers = { Authorization = "Bearer sk-live-do-not-print" }
            bearer_token_secret_ref = "mcp.h.TOKEN"
            """);
        await Assert.That(r.IsOk).IsFalse();
        await Assert.That(r.Problems.Any(p => p.Message.Contains("sk-live-do-not-print", StringComparison.Ordinal))).IsFalse();
    }

    [Test]
    [Arguments("bearer_token_env_var = \"GITHUB_TOKEN\"", "mcp_config_unsupported_field")]
    [Arguments("startup_timeout_sec = 0", "mcp_timeout_invalid")]
    [Arguments("startup_timeout_sec = \"10\"", "mcp_config_type")]
    public async Task Unsupported_or_mistyped_fields_are_refused(string line, string code)
    {
        McpCheckResult r = Check($"""
            [mcp_servers.a]
            url = "https://x.example/mcp"
            {line}
            """);
        await Assert.That(Codes(r)).Contains(code);
    }

    [Test]
    [Arguments("a__b")]
    [Arguments("_a")]
    [Arguments("a b")]
    [Arguments("a/b")]
    public async Task Server_names_that_would_break_tool_names_are_refused(string name)
    {
        await Assert.That(McpServerValidator.IsValidName(name)).IsFalse();
    }

    [Test]
    public async Task Credentials_over_plain_http_are_only_sent_to_loopback()
    {
        McpCheckResult remote = Check("""
            [mcp_servers.a]
            url = "http://mcp.example.com/mcp"
            bearer_token_secret_ref = "mcp.a.TOKEN"
            """);
        McpCheckResult local = Check("""
            [mcp_servers.a]
            url = "http://127.0.0.1:9/mcp"
            bearer_token_secret_ref = "mcp.a.TOKEN"
            """);
        await Assert.That(Codes(remote)).Contains("mcp_url_insecure");
        await Assert.That(local.IsOk).IsTrue();
    }

    [Test]
    public async Task A_disabled_server_is_left_out()
    {
        McpCheckResult r = Check("""
            [mcp_servers.off]
            command = "node"
            enabled = false
            """);
        await Assert.That(r.IsOk).IsTrue();
        await Assert.That(r.Servers!.Count).IsEqualTo(0);
    }
}
