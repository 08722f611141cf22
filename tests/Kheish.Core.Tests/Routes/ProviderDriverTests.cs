using Kheish.Core.Routes;

namespace Kheish.Core.Tests.Routes;

public sealed class ProviderDriverTests
{
    private static RouteDefinition Route(ProviderDriver driver, RouteSetting? org = null, RouteSetting? project = null, IReadOnlyList<string>? beta = null, string? version = null) =>
        new(RouteId.Parse("r"), driver, "m", ModelSupport.Family, new RouteCredential.AuthRef("s"), driver.DefaultBaseUrl, org, project, version, beta ?? []);

    [Test]
    [Arguments("openai", "https://api.openai.com/v1")]
    [Arguments("anthropic", "https://api.anthropic.com/")]
    [Arguments("google", "https://generativelanguage.googleapis.com/")]
    [Arguments("openrouter", "https://openrouter.ai/api/v1")]
    [Arguments("xai", "https://api.x.ai/v1")]
    public async Task Each_driver_has_its_default_base_url(string name, string url)
    {
        await Assert.That(ProviderDriver.TryParse(name, out ProviderDriver driver)).IsTrue();
        await Assert.That(driver.DefaultBaseUrl.AbsoluteUri).IsEqualTo(url);
    }

    [Test]
    public async Task OpenAI_sends_a_bearer_token_organization_and_project()
    {
        var env = new Dictionary<string, string> { ["ORG"] = "org-9" };

        var headers = ProviderDriver.OpenAI.AuthHeaders(
            Route(ProviderDriver.OpenAI, new RouteSetting.FromEnvironment("ORG"), new RouteSetting.Literal("proj_1")),
            "sk-1",
            n => env.GetValueOrDefault(n));

        await Assert.That(headers).IsEquivalentTo(new KeyValuePair<string, string>[] { new("Authorization", "Bearer sk-1"), new("OpenAI-Organization", "org-9"), new("OpenAI-Project", "proj_1") }, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Anthropic_sends_x_api_key_and_the_default_version()
    {
        var headers = ProviderDriver.Anthropic.AuthHeaders(Route(ProviderDriver.Anthropic), "sk-ant");

        await Assert.That(headers).IsEquivalentTo(new KeyValuePair<string, string>[] { new("x-api-key", "sk-ant"), new("anthropic-version", "2023-06-01") }, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Anthropic_sends_configured_version_and_beta_headers()
    {
        var headers = ProviderDriver.Anthropic.AuthHeaders(Route(ProviderDriver.Anthropic, beta: ["a", "b"], version: "2024-01-01"), "k");

        await Assert.That(headers).IsEquivalentTo(new KeyValuePair<string, string>[] { new("x-api-key", "k"), new("anthropic-version", "2024-01-01"), new("anthropic-beta", "a,b") }, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Google_sends_x_goog_api_key()
    {
        await Assert.That(ProviderDriver.Google.AuthHeaders(Route(ProviderDriver.Google), "k")).IsEquivalentTo(new KeyValuePair<string, string>[] { new("x-goog-api-key", "k") }, CollectionOrdering.Matching);
    }

    [Test]
    [Arguments("openrouter")]
    [Arguments("xai")]
    public async Task OpenRouter_and_xAI_send_a_bearer_token(string name)
    {
        await Assert.That(ProviderDriver.TryParse(name, out ProviderDriver driver)).IsTrue();

        await Assert.That(driver.AuthHeaders(Route(driver), "k")).IsEquivalentTo(new KeyValuePair<string, string>[] { new("Authorization", "Bearer k") }, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Credential_header_names_cover_every_header_a_key_travels_in()
    {
        foreach (ProviderDriver driver in ProviderDriver.All)
        {
            var route = Route(driver);
            string keyHeader = driver.AuthHeaders(route, "k").First(h => h.Value.Contains('k', StringComparison.Ordinal)).Key;
            await Assert.That(driver.CredentialHeaderNames.Contains(keyHeader)).IsTrue();
            await Assert.That(ProviderDriver.AllCredentialHeaderNames.Contains(keyHeader.ToUpperInvariant())).IsTrue();
        }
    }

    [Test]
    public async Task A_key_that_could_split_a_header_is_refused_without_echoing_it()
    {
        var ex = Assert.ThrowsExactly<ArgumentException>(() => ProviderDriver.OpenAI.AuthHeaders(Route(ProviderDriver.OpenAI), "sk-x\r\nX-Evil: 1"));

        await Assert.That(ex.Message).DoesNotContain("sk-x");
    }

    [Test]
    public async Task Google_names_its_key_query_parameter_for_stripping()
    {
        await Assert.That(ProviderDriver.Google.CredentialQueryParameterNames.ToArray()).IsEquivalentTo(["key"], CollectionOrdering.Matching);
        await Assert.That(ProviderDriver.OpenAI.CredentialQueryParameterNames).IsEmpty();
    }
}
