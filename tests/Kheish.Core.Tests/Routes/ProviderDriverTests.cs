using Kheish.Core.Routes;

namespace Kheish.Core.Tests.Routes;

public sealed class ProviderDriverTests
{
    private static RouteDefinition Route(ProviderDriver driver, RouteSetting? org = null, RouteSetting? project = null, IReadOnlyList<string>? beta = null, string? version = null) =>
        new(RouteId.Parse("r"), driver, "m", ModelSupport.Family, new RouteCredential.AuthRef("s"), driver.DefaultBaseUrl, org, project, version, beta ?? []);

    [Theory]
    [InlineData("openai", "https://api.openai.com/v1")]
    [InlineData("anthropic", "https://api.anthropic.com/")]
    [InlineData("google", "https://generativelanguage.googleapis.com/")]
    [InlineData("openrouter", "https://openrouter.ai/api/v1")]
    [InlineData("xai", "https://api.x.ai/v1")]
    public void Each_driver_has_its_default_base_url(string name, string url)
    {
        Assert.True(ProviderDriver.TryParse(name, out ProviderDriver driver));
        Assert.Equal(url, driver.DefaultBaseUrl.AbsoluteUri);
    }

    [Fact]
    public void OpenAI_sends_a_bearer_token_organization_and_project()
    {
        var env = new Dictionary<string, string> { ["ORG"] = "org-9" };

        var headers = ProviderDriver.OpenAI.AuthHeaders(
            Route(ProviderDriver.OpenAI, new RouteSetting.FromEnvironment("ORG"), new RouteSetting.Literal("proj_1")),
            "sk-1",
            n => env.GetValueOrDefault(n));

        Assert.Equal(
            [new("Authorization", "Bearer sk-1"), new("OpenAI-Organization", "org-9"), new("OpenAI-Project", "proj_1")],
            headers);
    }

    [Fact]
    public void Anthropic_sends_x_api_key_and_the_default_version()
    {
        var headers = ProviderDriver.Anthropic.AuthHeaders(Route(ProviderDriver.Anthropic), "sk-ant");

        Assert.Equal([new("x-api-key", "sk-ant"), new("anthropic-version", "2023-06-01")], headers);
    }

    [Fact]
    public void Anthropic_sends_configured_version_and_beta_headers()
    {
        var headers = ProviderDriver.Anthropic.AuthHeaders(Route(ProviderDriver.Anthropic, beta: ["a", "b"], version: "2024-01-01"), "k");

        Assert.Equal([new("x-api-key", "k"), new("anthropic-version", "2024-01-01"), new("anthropic-beta", "a,b")], headers);
    }

    [Fact]
    public void Google_sends_x_goog_api_key()
    {
        Assert.Equal([new("x-goog-api-key", "k")], ProviderDriver.Google.AuthHeaders(Route(ProviderDriver.Google), "k"));
    }

    [Theory]
    [InlineData("openrouter")]
    [InlineData("xai")]
    public void OpenRouter_and_xAI_send_a_bearer_token(string name)
    {
        Assert.True(ProviderDriver.TryParse(name, out ProviderDriver driver));

        Assert.Equal([new("Authorization", "Bearer k")], driver.AuthHeaders(Route(driver), "k"));
    }

    [Fact]
    public void Credential_header_names_cover_every_header_a_key_travels_in()
    {
        foreach (ProviderDriver driver in ProviderDriver.All)
        {
            var route = Route(driver);
            string keyHeader = driver.AuthHeaders(route, "k").First(h => h.Value.Contains('k', StringComparison.Ordinal)).Key;
            Assert.True(driver.CredentialHeaderNames.Contains(keyHeader), keyHeader);
            Assert.True(ProviderDriver.AllCredentialHeaderNames.Contains(keyHeader.ToUpperInvariant()), keyHeader);
        }
    }

    [Fact]
    public void A_key_that_could_split_a_header_is_refused_without_echoing_it()
    {
        var ex = Assert.Throws<ArgumentException>(() => ProviderDriver.OpenAI.AuthHeaders(Route(ProviderDriver.OpenAI), "sk-x\r\nX-Evil: 1"));

        Assert.DoesNotContain("sk-x", ex.Message);
    }

    [Fact]
    public void Google_names_its_key_query_parameter_for_stripping()
    {
        Assert.Equal(["key"], ProviderDriver.Google.CredentialQueryParameterNames.ToArray());
        Assert.Empty(ProviderDriver.OpenAI.CredentialQueryParameterNames);
    }
}
