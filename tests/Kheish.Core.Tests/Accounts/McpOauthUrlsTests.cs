using System.Text.Json;
using Kheish.Core.Accounts;

namespace Kheish.Core.Tests.Accounts;

public sealed class McpOauthUrlsTests
{
    [Test]
    [Arguments("https://mcp.example.com/mcp", false)]
    [Arguments("https://mcp.example.com/mcp?tenant=a", false)]
    [Arguments("http://127.0.0.1:8080/mcp", true)]
    [Arguments("http://[::1]:8080/mcp", true)]
    [Arguments("http://localhost:8080/mcp", true)]
    public async Task Acceptable_urls_pass(string url, bool loopbackHttp)
    {
        await Assert.That(McpOauthUrls.Check(url, "--url", allowHttpForLoopback: loopbackHttp)).IsNull();
    }

    [Test]
    [Arguments("http://mcp.example.com/mcp", true, "must use https")]
    [Arguments("http://127.0.0.1:8080/mcp", false, "--allow-http-for-loopback")]
    [Arguments("https://user:pw@mcp.example.com/mcp", true, "user info")]
    [Arguments("https://mcp.example.com/mcp#frag", true, "fragment")]
    [Arguments("https://mcp.example.com/mcp?access_token=abc", true, "credential")]
    [Arguments("https://mcp.example.com/mcp?client_secret=abc", true, "credential")]
    [Arguments("https://mcp.example.com/mcp?API_KEY=abc", true, "credential")]
    [Arguments("https://mcp.example.com/mcp?x_token=abc", true, "credential")]
    [Arguments("ftp://mcp.example.com/mcp", true, "absolute https URL")]
    [Arguments("/mcp", true, "absolute https URL")]
    public async Task Bad_urls_are_refused_naming_the_rule(string url, bool loopbackHttp, string reason)
    {
        string? problem = McpOauthUrls.Check(url, "--url", allowHttpForLoopback: loopbackHttp);
        await Assert.That(problem).IsNotNull();
        await Assert.That(problem!).Contains(reason);
        await Assert.That(problem!).DoesNotContain("abc");
    }

    [Test]
    public async Task An_issuer_may_not_have_a_query()
    {
        await Assert.That(McpOauthUrls.Check("https://as.example.com/?tenant=a", "issuer", false, allowQuery: false)).IsNotNull();
    }

    [Test]
    public async Task Protected_resource_metadata_is_looked_up_path_inserted_first()
    {
        IReadOnlyList<Uri> urls = McpOauthUrls.ProtectedResourceMetadataUrls(new Uri("https://mcp.example.com/v1/mcp"));
        await Assert.That(urls.Select(u => u.AbsoluteUri)).IsEquivalentTo(
            ["https://mcp.example.com/.well-known/oauth-protected-resource/v1/mcp", "https://mcp.example.com/.well-known/oauth-protected-resource"],
            CollectionOrdering.Matching);
    }

    [Test]
    public async Task Authorization_server_metadata_tries_rfc8414_then_openid_forms()
    {
        IReadOnlyList<Uri> urls = McpOauthUrls.AuthorizationServerMetadataUrls(new Uri("https://as.example.com/tenant1"));
        await Assert.That(urls.Select(u => u.AbsoluteUri)).IsEquivalentTo(
            [
                "https://as.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://as.example.com/.well-known/openid-configuration/tenant1",
                "https://as.example.com/tenant1/.well-known/openid-configuration",
            ],
            CollectionOrdering.Matching);
    }

    [Test]
    [Arguments("read", true)]
    [Arguments("tools:call", true)]
    [Arguments("read write", false)]
    [Arguments("a\"b", false)]
    [Arguments("a\\b", false)]
    [Arguments("", false)]
    public async Task Scopes_are_rfc6749_scope_tokens(string scope, bool ok)
    {
        await Assert.That(McpOauthUrls.IsScope(scope)).IsEqualTo(ok);
    }

    [Test]
    public async Task A_challenge_parameter_is_read_quoted_or_bare()
    {
        const string challenge = "error=\"invalid_token\", resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/mcp\", scope=read";
        await Assert.That(McpOauthLogin.Param(challenge, "resource_metadata")).IsEqualTo("https://mcp.example.com/.well-known/oauth-protected-resource/mcp");
        await Assert.That(McpOauthLogin.Param(challenge, "scope")).IsEqualTo("read");
        await Assert.That(McpOauthLogin.Param(challenge, "realm")).IsNull();
    }

    private static McpOauthAuthorization Pending(bool issSupported)
    {
        var account = new McpOauthAccount("s", "https://mcp.example.com/mcp", "https://as.example.com", "https://as.example.com/auth", "https://as.example.com/token", "client", null, ["read"]);
        var discovery = new McpOauthDiscovery(account.Resource, account.Issuer, account.AuthorizationEndpoint, account.TokenEndpoint, null, issSupported, []);
        return McpOauthLogin.Authorize(discovery, account, new Uri("http://127.0.0.1:5000/callback"), ["read"]);
    }

    [Test]
    public async Task The_authorization_url_carries_pkce_s256_state_and_the_resource()
    {
        McpOauthAuthorization pending = Pending(issSupported: true);
        string query = pending.AuthorizeUrl.Query;
        await Assert.That(query).Contains("code_challenge_method=S256");
        await Assert.That(query).Contains("resource=https%3A%2F%2Fmcp.example.com%2Fmcp");
        await Assert.That(query).Contains("state=" + pending.State);
        await Assert.That(query).DoesNotContain(pending.CodeVerifier);
        await Assert.That(pending.State.Length).IsGreaterThanOrEqualTo(43);
    }

    [Test]
    public async Task A_redirect_is_accepted_only_with_the_right_state_and_iss()
    {
        McpOauthAuthorization pending = Pending(issSupported: true);
        Dictionary<string, string> good = new() { ["state"] = pending.State, ["iss"] = "https://as.example.com", ["code"] = "c0de" };
        await Assert.That(McpOauthLogin.CheckRedirect(pending, good).Value).IsEqualTo("c0de");
        await Assert.That(McpOauthLogin.CheckRedirect(pending, new Dictionary<string, string>(good) { ["state"] = "forged" }).Error!.Code).IsEqualTo("mcp_oauth_state_mismatch");
        await Assert.That(McpOauthLogin.CheckRedirect(pending, new Dictionary<string, string>(good) { ["iss"] = "https://evil.example" }).Error!.Code).IsEqualTo("mcp_oauth_iss_mismatch");
        var noIss = new Dictionary<string, string>(good);
        noIss.Remove("iss");
        await Assert.That(McpOauthLogin.CheckRedirect(pending, noIss).Error!.Code).IsEqualTo("mcp_oauth_iss_mismatch");
        await Assert.That(McpOauthLogin.CheckRedirect(pending, new Dictionary<string, string>(good) { ["error"] = "access_denied" }).Error!.Code).IsEqualTo("mcp_oauth_denied");
    }

    [Test]
    public async Task An_mcp_oauth_state_round_trips_and_hides_its_secrets()
    {
        var state = new AccountState
        {
            Kind = AccountKind.McpOauth,
            AccessToken = "access-token-value-123",
            RefreshToken = "refresh-token-value-456",
            Scopes = ["read"],
            SourcePath = "mcp oauth login",
            ExpiresAtMs = 1_000,
            Mcp = new McpOauthAccount("s", "https://mcp.example.com/mcp", "https://as.example.com", "https://as.example.com/auth", "https://as.example.com/token", "client", "client-secret-789", ["read"]),
        };
        JsonElement json = state.ToJson();
        AccountState back = AccountState.FromJson(AccountKind.McpOauth, json, "mcp.oauth.s").Value!;
        await Assert.That(back.Mcp!.TokenEndpoint).IsEqualTo("https://as.example.com/token");
        await Assert.That(back.Mcp.ClientSecret).IsEqualTo("client-secret-789");
        await Assert.That(back.Secrets()).Contains("client-secret-789");
        await Assert.That(back.ToString() + back.Mcp).DoesNotContain("token-value").And.DoesNotContain("client-secret-789");
        string status = System.Text.Json.JsonSerializer.Serialize(state.ToRecord(Kheish.Core.Secrets.SlotId.Parse("mcp.oauth.s").Value).ToStatus().Details!);
        await Assert.That(status).DoesNotContain("token-value").And.DoesNotContain("client-secret-789").And.Contains("as.example.com/token");
    }
}
