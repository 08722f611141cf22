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
        RoutesFile.Check(Encoding.UTF8.GetBytes("version = 1\n[routes.r]\ndefault_model = \"m\"\n" + fields), "routes.toml", new Catalog()).Config!.Routes.Single();

    [Test]
    public async Task A_codex_route_without_base_url_goes_to_the_chatgpt_backend()
    {
        RouteDefinition route = Route("driver = \"openai\"\nauth_ref = \"openai.codex\"\n");

        await Assert.That(AccountRouteHeaders.BaseUrlText(route, AccountKind.Codex)).IsEqualTo("https://chatgpt.com/backend-api/codex");
    }

    [Test]
    public async Task A_codex_route_with_its_own_base_url_keeps_it_even_when_it_is_the_api_default()
    {
        RouteDefinition route = Route("driver = \"openai\"\nauth_ref = \"openai.codex\"\nbase_url = \"https://api.openai.com/v1\"\n");

        await Assert.That(AccountRouteHeaders.BaseUrlText(route, AccountKind.Codex)).IsEqualTo("https://api.openai.com/v1");
    }

    [Test]
    public async Task Codex_headers_are_the_bearer_and_the_account_id()
    {
        RouteDefinition route = Route("driver = \"openai\"\nauth_ref = \"openai.codex\"\n");

        var headers = AccountRouteHeaders.For(route, new AccountAccess(AccountKind.Codex, "tok-123456", "acct-1"), []);

        await Assert.That(headers).IsEquivalentTo([new KeyValuePair<string, string>("Authorization", "Bearer tok-123456"), new KeyValuePair<string, string>("ChatGPT-Account-ID", "acct-1")], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Claude_headers_add_the_oauth_beta_to_the_agent_and_route_betas_once()
    {
        RouteDefinition route = Route("driver = \"anthropic\"\nauth_ref = \"anthropic.claude\"\nanthropic_beta_headers = [\"prompt-caching-2024-07-31\"]\n");

        var headers = AccountRouteHeaders.For(route, new AccountAccess(AccountKind.ClaudeCode, "tok-123456", null), ["claude-code-20250219, oauth-2025-04-20"]);

        await Assert.That(headers).IsEquivalentTo([
                new KeyValuePair<string, string>("Authorization", "Bearer tok-123456"),
                new KeyValuePair<string, string>("anthropic-version", "2023-06-01"),
                new KeyValuePair<string, string>("anthropic-beta", "claude-code-20250219,oauth-2025-04-20,prompt-caching-2024-07-31"),
            ], CollectionOrdering.Matching);
        await Assert.That(headers.Any(h => h.Key.Equals("x-api-key", StringComparison.OrdinalIgnoreCase))).IsFalse();
    }

    [Test]
    public async Task Routes_check_refuses_an_account_slot_for_openrouter()
    {
        RoutesCheckResult r = RoutesFile.Check(
            Encoding.UTF8.GetBytes("version = 1\n[routes.r]\ndriver = \"openrouter\"\ndefault_model = \"m\"\nauth_ref = \"openrouter.acct\"\n"), "routes.toml", new Catalog());

        RouteProblem problem = (await Assert.That(r.Problems).HasSingleItem())!;
        await Assert.That(problem.Code).IsEqualTo("routes_auth_ref_account");
    }

    [Test]
    public async Task Account_state_never_prints_its_tokens()
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

        await Assert.That(state.ToString() + new AccountAccess(AccountKind.ClaudeCode, "sk-canary-access-1", null)).DoesNotContain("sk-canary");
    }
}
