using System.Text;
using Kheish.Core.Mcp;

namespace Kheish.Core.Tests.Mcp;

public sealed class McpOauthConfigTests
{
    private static McpCheckResult Check(string toml, Func<string, bool>? exists = null) =>
        McpConfigFile.Check(Encoding.UTF8.GetBytes(toml), "mcp.toml", exists ?? (_ => true));

    private static string[] Codes(McpCheckResult r) => [.. r.Problems.Select(p => p.Code)];

    [Test]
    public async Task An_oauth_backed_server_reads_its_slot_resource_and_scopes()
    {
        McpCheckResult r = Check("""
            [mcp_servers.linear]
            url = "https://mcp.linear.app/mcp"
            oauth_slot_ref = "mcp.oauth.linear"
            oauth_scopes = ["read", "write"]
            """);

        await Assert.That(r.IsOk).IsTrue();
        McpServerDefinition def = r.Servers!.Single();
        await Assert.That(def.OauthSlotRef).IsEqualTo("mcp.oauth.linear");
        await Assert.That(def.EffectiveOauthResource).IsEqualTo("https://mcp.linear.app/mcp");
        await Assert.That(def.OauthScopes!).IsEquivalentTo(["read", "write"], CollectionOrdering.Matching);
        await Assert.That(def.SecretRefs()).IsEquivalentTo(["mcp.oauth.linear"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task An_explicit_oauth_resource_wins_over_the_url()
    {
        McpCheckResult r = Check("""
            [mcp_servers.linear]
            url = "https://mcp.linear.app/mcp"
            oauth_slot_ref = "mcp.oauth.linear"
            oauth_resource = "https://mcp.linear.app"
            """);

        await Assert.That(r.IsOk).IsTrue();
        await Assert.That(r.Servers!.Single().EffectiveOauthResource).IsEqualTo("https://mcp.linear.app");
    }

    [Test]
    [Arguments("oauth_slot_ref = \"mcp.linear.TOKEN\"", "mcp_oauth_slot_ref_invalid")]
    [Arguments("oauth_slot_ref = \"mcp.oauth.\"", "mcp_oauth_slot_ref_invalid")]
    [Arguments("oauth_slot_ref = \"mcp.oauth.linear\"\nbearer_token_secret_ref = \"mcp.linear.TOKEN\"", "mcp_auth_mixed")]
    [Arguments("oauth_slot_ref = \"mcp.oauth.linear\"\nhttp_headers = { Authorization = \"Bearer x\" }", "mcp_auth_mixed")]
    [Arguments("oauth_slot_ref = \"mcp.oauth.linear\"\nhttp_header_secret_refs = { authorization = \"mcp.linear.AUTH\" }", "mcp_auth_mixed")]
    [Arguments("oauth_resource = \"https://mcp.linear.app\"", "mcp_oauth_incomplete")]
    [Arguments("oauth_scopes = [\"read\"]", "mcp_oauth_incomplete")]
    [Arguments("oauth_slot_ref = \"mcp.oauth.linear\"\noauth_resource = \"http://mcp.linear.app/mcp\"", "mcp_oauth_resource_invalid")]
    [Arguments("oauth_slot_ref = \"mcp.oauth.linear\"\noauth_resource = \"https://u:p@mcp.linear.app/mcp\"", "mcp_oauth_resource_invalid")]
    [Arguments("oauth_slot_ref = \"mcp.oauth.linear\"\noauth_resource = \"https://mcp.linear.app/mcp#x\"", "mcp_oauth_resource_invalid")]
    [Arguments("oauth_slot_ref = \"mcp.oauth.linear\"\noauth_resource = \"https://mcp.linear.app/mcp?access_token=x\"", "mcp_oauth_resource_invalid")]
    [Arguments("oauth_slot_ref = \"mcp.oauth.linear\"\noauth_scopes = [\"read write\"]", "mcp_oauth_scopes_invalid")]
    [Arguments("oauth_slot_ref = \"mcp.oauth.linear\"\noauth_scopes = [\"read\", \"read\"]", "mcp_oauth_scopes_invalid")]
    [Arguments("oauth_slot_ref = \"mcp.oauth.linear\"\noauth_scopes = [\"\"]", "mcp_oauth_scopes_invalid")]
    [Arguments("oauth_slot_ref = \"mcp.oauth.linear\"\noauth_scopes = [\"a\\\"b\"]", "mcp_oauth_scopes_invalid")]
    public async Task A_bad_oauth_setting_is_refused_with_its_code(string fields, string code)
    {
        McpCheckResult r = Check($"""
            [mcp_servers.linear]
            url = "https://mcp.linear.app/mcp"
            {fields}
            """);

        await Assert.That(r.IsOk).IsFalse();
        await Assert.That(Codes(r)).Contains(code);
    }

    [Test]
    public async Task Oauth_fields_on_a_stdio_server_are_refused_as_mixed()
    {
        McpCheckResult r = Check("""
            [mcp_servers.local]
            command = "node"
            oauth_slot_ref = "mcp.oauth.local"
            """);

        await Assert.That(Codes(r)).Contains("mcp_server_fields_mixed");
    }

    [Test]
    public async Task A_missing_oauth_account_names_the_login_command()
    {
        McpCheckResult r = Check("""
            [mcp_servers.linear]
            url = "https://mcp.linear.app/mcp"
            oauth_slot_ref = "mcp.oauth.linear"
            """, _ => false);

        McpProblem problem = r.Problems.Single();
        await Assert.That(problem.Code).IsEqualTo("mcp_secret_ref_missing");
        await Assert.That(problem.Message).Contains("kheish-daemon mcp oauth login linear --url");
    }

    [Test]
    public async Task Plain_http_credentials_are_refused_for_a_remote_oauth_server()
    {
        McpCheckResult r = Check("""
            [mcp_servers.linear]
            url = "http://mcp.linear.app/mcp"
            oauth_slot_ref = "mcp.oauth.linear"
            """);

        await Assert.That(Codes(r)).Contains("mcp_url_insecure");
    }
}
