using System.Text;
using Kheish.Core.Accounts;
using Kheish.Core.Routes;

namespace Kheish.Core.Tests.Accounts;

public sealed class AccountRouteHeadersTests
{
    private sealed class Catalog : IAuthRefCatalog
    {
        public string? UnavailableReason => null;

        public string? ProviderOf(string slotId) => slotId.Split('.')[0];

        public string? ModeOf(string slotId) => "oauth_account";
    }

    private static RouteDefinition Route(string fields) =>
        Assert.Single(RoutesFile.Check(Encoding.UTF8.GetBytes("version = 1\n[routes.r]\ndefault_model = \"m\"\n" + fields), "routes.toml", new Catalog()).Config!.Routes);

    [Fact]
    public void A_codex_route_without_base_url_goes_to_the_chatgpt_backend()
    {
        RouteDefinition route = Route("driver = \"openai\"\nauth_ref = \"openai.codex\"\n");

        Assert.Equal("https://chatgpt.com/backend-api/codex", AccountRouteHeaders.BaseUrlText(route, AccountKind.Codex));
    }

    [Fact]
    public void A_codex_route_with_its_own_base_url_keeps_it_even_when_it_is_the_api_default()
    {
        RouteDefinition route = Route("driver = \"openai\"\nauth_ref = \"openai.codex\"\nbase_url = \"https://api.openai.com/v1\"\n");

        Assert.Equal("https://api.openai.com/v1", AccountRouteHeaders.BaseUrlText(route, AccountKind.Codex));
    }

    [Fact]
    public void Codex_headers_are_the_bearer_and_the_account_id()
    {
        RouteDefinition route = Route("driver = \"openai\"\nauth_ref = \"openai.codex\"\n");

        var headers = AccountRouteHeaders.For(route, new AccountAccess(AccountKind.Codex, "tok-123456", "acct-1"), []);

        Assert.Equal([new("Authorization", "Bearer tok-123456"), new("ChatGPT-Account-ID", "acct-1")], headers);
    }

    [Fact]
    public void Claude_headers_add_the_oauth_beta_to_the_agent_and_route_betas_once()
    {
        RouteDefinition route = Route("driver = \"anthropic\"\nauth_ref = \"anthropic.claude\"\nanthropic_beta_headers = [\"prompt-caching-2024-07-31\"]\n");

        var headers = AccountRouteHeaders.For(route, new AccountAccess(AccountKind.ClaudeCode, "tok-123456", null), ["claude-code-20250219, oauth-2025-04-20"]);

        Assert.Equal(
            [
                new("Authorization", "Bearer tok-123456"),
                new("anthropic-version", "2023-06-01"),
                new("anthropic-beta", "claude-code-20250219,oauth-2025-04-20,prompt-caching-2024-07-31"),
            ],
            headers);
        Assert.DoesNotContain(headers, h => h.Key.Equals("x-api-key", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void Routes_check_refuses_an_account_slot_for_openrouter()
    {
        RoutesCheckResult r = RoutesFile.Check(
            Encoding.UTF8.GetBytes("version = 1\n[routes.r]\ndriver = \"openrouter\"\ndefault_model = \"m\"\nauth_ref = \"openrouter.acct\"\n"), "routes.toml", new Catalog());

        RouteProblem problem = Assert.Single(r.Problems);
        Assert.Equal("routes_auth_ref_account", problem.Code);
    }

    [Fact]
    public void Account_state_never_prints_its_tokens()
    {
        var state = new AccountState
        {
            Kind = AccountKind.ClaudeCode,
            AccessToken = "sk-canary-access-1",
            RefreshToken = "sk-canary-refresh-1",
            ExpiresAtMs = 1,
            Scopes = ["user:inference"],
            SourcePath = "/x",
        };

        Assert.DoesNotContain("sk-canary", state.ToString() + new AccountAccess(AccountKind.ClaudeCode, "sk-canary-access-1", null));
    }
}
