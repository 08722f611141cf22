using System.Text;
using Kheish.Core.Mcp;

namespace Kheish.Core.Tests.Mcp;

public sealed class McpConfigFileTests
{
    private static McpCheckResult Check(string toml, Func<string, bool>? exists = null) =>
        McpConfigFile.Check(Encoding.UTF8.GetBytes(toml), "mcp.toml", exists ?? (_ => true));

    private static string[] Codes(McpCheckResult r) => [.. r.Problems.Select(p => p.Code)];

    [Fact]
    public void A_codex_shaped_file_yields_stdio_and_http_servers()
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

        Assert.True(r.IsOk, string.Join("; ", r.Problems.Select(p => p.Message)));
        McpServerDefinition stdio = r.Servers!.Single(s => s.Name == "everything");
        Assert.Equal(McpTransport.Stdio, stdio.Transport);
        Assert.Equal(["index.js", "stdio"], stdio.Args);
        Assert.Equal("mcp.everything.TOKEN", stdio.EnvSecretRefs!["TOKEN"]);
        Assert.Equal(TimeSpan.FromSeconds(60), stdio.ToolTimeout);
        McpServerDefinition http = r.Servers!.Single(s => s.Name == "remote");
        Assert.Equal(McpTransport.Http, http.Transport);
        Assert.Equal(["mcp.remote.TOKEN"], http.SecretRefs());
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
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

        Assert.False(r.IsOk);
        string[] codes = Codes(r);
        Assert.Contains("mcp_server_transport", codes);
        Assert.Contains("mcp_inherit_env_refused", codes);
        Assert.Contains("mcp_authorization_conflict", codes);
        Assert.Contains("mcp_header_two_sources", codes);
        Assert.Contains("mcp_config_unknown_field", codes);
        Assert.Contains(r.Problems, p => p.Message.Contains("env_secret_refs", StringComparison.Ordinal) && p.Server == "inherit");
    }

    [Fact]
    public void Stdio_and_http_fields_never_mix()
    {
        McpCheckResult r = Check("""
            [mcp_servers.a]
            command = "node"
            http_headers = { "X-A" = "1" }

            [mcp_servers.b]
            url = "https://x.example/mcp"
            env = { A = "1" }
            """);
        Assert.Equal(2, r.Problems.Count(p => p.Code == "mcp_server_fields_mixed"));
    }

    [Fact]
    public void A_missing_slot_names_the_server_and_the_slot()
    {
        McpCheckResult r = Check("""
            [mcp_servers.linear]
            command = "npx"
            env_secret_refs = { LINEAR_API_KEY = "mcp.linear.LINEAR_API_KEY" }
            """, _ => false);
        McpProblem p = Assert.Single(r.Problems);
        Assert.Equal("mcp_secret_ref_missing", p.Code);
        Assert.Contains("`linear`", p.Message, StringComparison.Ordinal);
        Assert.Contains("mcp.linear.LINEAR_API_KEY", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Syntax_errors_give_line_and_column_but_never_file_content()
    {
        McpCheckResult r = Check("[mcp_servers.a]\ncommand = \"sk-secret-value\n");
        McpProblem p = Assert.Single(r.Problems);
        Assert.Equal("toml_invalid", p.Code);
        Assert.Contains("line 2", p.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-secret-value", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plain_values_are_never_quoted_in_problems()
    {
        McpCheckResult r = Check("""
            [mcp_servers.h]
            url = "https://x.example/mcp"
            http_headers = { Authorization = "Bearer sk-live-do-not-print" }
            bearer_token_secret_ref = "mcp.h.TOKEN"
            """);
        Assert.False(r.IsOk);
        Assert.DoesNotContain(r.Problems, p => p.Message.Contains("sk-live-do-not-print", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("bearer_token_env_var = \"GITHUB_TOKEN\"", "mcp_config_unsupported_field")]
    [InlineData("startup_timeout_sec = 0", "mcp_timeout_invalid")]
    [InlineData("startup_timeout_sec = \"10\"", "mcp_config_type")]
    public void Unsupported_or_mistyped_fields_are_refused(string line, string code)
    {
        McpCheckResult r = Check($"""
            [mcp_servers.a]
            url = "https://x.example/mcp"
            {line}
            """);
        Assert.Contains(code, Codes(r));
    }

    [Theory]
    [InlineData("a__b")]
    [InlineData("_a")]
    [InlineData("a b")]
    [InlineData("a/b")]
    public void Server_names_that_would_break_tool_names_are_refused(string name)
    {
        Assert.False(McpServerValidator.IsValidName(name));
    }

    [Fact]
    public void Credentials_over_plain_http_are_only_sent_to_loopback()
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
        Assert.Contains("mcp_url_insecure", Codes(remote));
        Assert.True(local.IsOk);
    }

    [Fact]
    public void A_disabled_server_is_left_out()
    {
        McpCheckResult r = Check("""
            [mcp_servers.off]
            command = "node"
            enabled = false
            """);
        Assert.True(r.IsOk);
        Assert.Empty(r.Servers!);
    }
}
