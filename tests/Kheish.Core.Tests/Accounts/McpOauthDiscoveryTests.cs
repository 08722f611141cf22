using System.Net;
using System.Text;
using Kheish.Core.Accounts;

namespace Kheish.Core.Tests.Accounts;

/// <summary>RFC 9728 then RFC 8414 / OpenID discovery of <c>mcp oauth login</c>, against canned documents.</summary>
public sealed class McpOauthDiscoveryTests
{
    private const string Mcp = "https://mcp.example.com/mcp";
    private const string Prm = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

    private static McpOauthLoginRequest Request() => new("srv", new Uri(Mcp), null, null, null, AllowHttpForLoopback: false);

    private static string OpenIdConfiguration(string issuer) => $$"""
        {"issuer":"{{issuer}}","authorization_endpoint":"https://as.example.com/authorize","token_endpoint":"https://as.example.com/token",
         "jwks_uri":"https://as.example.com/jwks.json","code_challenge_methods_supported":["S256"],
         "token_endpoint_auth_methods_supported":["client_secret_post"],"authorization_response_iss_parameter_supported":true}
        """;

    [Test]
    public async Task An_openid_configuration_whose_jwks_is_missing_is_discovered_without_fetching_the_keys()
    {
        using var server = new Documents(new()
        {
            [Prm] = $$"""{"resource":"{{Mcp}}","authorization_servers":["https://as.example.com"]}""",
            ["https://as.example.com/.well-known/openid-configuration"] = OpenIdConfiguration("https://as.example.com"),
        });
        using var http = new HttpClient(server);
        var found = await new McpOauthLogin(http).DiscoverAsync(Request(), CancellationToken.None);
        await Assert.That(found.IsOk).IsTrue().Because(found.IsOk ? "" : found.Error.Message);
        await Assert.That(found.Value.TokenEndpoint).IsEqualTo("https://as.example.com/token");
        await Assert.That(found.Value.IssParameterSupported).IsTrue();
        await Assert.That(found.Value.TokenEndpointAuthMethods!).IsEquivalentTo(["client_secret_post"]);
        await Assert.That(server.Requested).DoesNotContain("https://as.example.com/jwks.json");
    }

    [Test]
    public async Task Metadata_naming_another_issuer_is_refused()
    {
        using var server = new Documents(new()
        {
            [Prm] = $$"""{"resource":"{{Mcp}}","authorization_servers":["https://as.example.com"]}""",
            ["https://as.example.com/.well-known/oauth-authorization-server"] = OpenIdConfiguration("https://evil.example.com"),
        });
        using var http = new HttpClient(server);
        var found = await new McpOauthLogin(http).DiscoverAsync(Request(), CancellationToken.None);
        await Assert.That(found.IsOk).IsFalse();
        await Assert.That(found.Error!.Code).IsEqualTo("mcp_oauth_issuer_mismatch");
    }

    [Test]
    public async Task Root_metadata_naming_the_origin_is_accepted_as_the_resource()
    {
        using var server = new Documents(new()
        {
            ["https://mcp.example.com/.well-known/oauth-protected-resource"] = """{"resource":"https://mcp.example.com","authorization_servers":["https://as.example.com"]}""",
            ["https://as.example.com/.well-known/oauth-authorization-server"] = OpenIdConfiguration("https://as.example.com"),
        }, challenge: false);
        using var http = new HttpClient(server);
        var found = await new McpOauthLogin(http).DiscoverAsync(Request(), CancellationToken.None);
        await Assert.That(found.IsOk).IsTrue().Because(found.IsOk ? "" : found.Error.Message);
        await Assert.That(found.Value.Resource).IsEqualTo("https://mcp.example.com");
    }

    /// <summary>Answers the MCP URL's POST with a 401 challenge naming <see cref="Prm"/> (unless told not to), GETs from a map, else 404.</summary>
    private sealed class Documents(Dictionary<string, string> documents, bool challenge = true) : HttpMessageHandler
    {
        public List<string> Requested { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            string url = request.RequestUri!.AbsoluteUri;
            Requested.Add(url);
            if (request.Method == HttpMethod.Post && url == Mcp)
            {
                var unauthorized = new HttpResponseMessage(HttpStatusCode.Unauthorized);
                if (challenge)
                {
                    unauthorized.Headers.TryAddWithoutValidation("WWW-Authenticate", $"Bearer resource_metadata=\"{Prm}\"");
                }

                return Task.FromResult(unauthorized);
            }

            return Task.FromResult(documents.TryGetValue(url, out string? body)
                ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8, "application/json") }
                : new HttpResponseMessage(HttpStatusCode.NotFound));
        }
    }
}
