using Kheish.Core.Accounts;

namespace Kheish.Core.Tests.Accounts;

public sealed class McpOauthClientChoiceTests
{
    private static readonly Uri Redirect = new("http://127.0.0.1:5555/callback");
    private static readonly Uri MetadataUrl = new("https://client.example.com/kheish.json");

    private static McpOauthDiscovery Discovery(bool cimd, string? registration) =>
        new("https://mcp.example.com/mcp", "https://as.example.com", "https://as.example.com/authorize", "https://as.example.com/token",
            registration, IssParameterSupported: false, DefaultScopes: [], ClientIdMetadataDocumentSupported: cimd);

    private static McpOauthLoginRequest Request(string? clientId, Uri? metadataUrl) =>
        new("srv", new Uri("https://mcp.example.com/mcp"), clientId, null, null, AllowHttpForLoopback: false, metadataUrl);

    [Test]
    public async Task A_configured_metadata_url_is_the_client_id_when_the_server_supports_it_and_nothing_is_registered()
    {
        using var handler = new CountingHandler();
        using var http = new HttpClient(handler);
        var result = await new McpOauthLogin(http).ClientAsync(Request(null, MetadataUrl), Discovery(cimd: true, "https://as.example.com/register"), Redirect, CancellationToken.None);
        await Assert.That(result.IsOk).IsTrue();
        await Assert.That(result.Value.ClientId).IsEqualTo(MetadataUrl.AbsoluteUri);
        await Assert.That(result.Value.ClientSecret).IsNull();
        await Assert.That(handler.Calls).IsEqualTo(0);
    }

    [Test]
    public async Task Without_server_support_the_metadata_url_is_not_used_and_the_client_registers()
    {
        using var handler = new CountingHandler();
        using var http = new HttpClient(handler);
        var result = await new McpOauthLogin(http).ClientAsync(Request(null, MetadataUrl), Discovery(cimd: false, "https://as.example.com/register"), Redirect, CancellationToken.None);
        await Assert.That(handler.Calls).IsEqualTo(1);
        await Assert.That(handler.LastUri).IsEqualTo("https://as.example.com/register");
        await Assert.That(result.IsOk).IsTrue();
        await Assert.That(result.Value.ClientId).IsEqualTo("registered-1");
    }

    [Test]
    public async Task A_pre_registered_client_id_wins_over_the_metadata_url()
    {
        using var handler = new CountingHandler();
        using var http = new HttpClient(handler);
        var result = await new McpOauthLogin(http).ClientAsync(Request("pre-registered", MetadataUrl), Discovery(cimd: true, "https://as.example.com/register"), Redirect, CancellationToken.None);
        await Assert.That(result.Value.ClientId).IsEqualTo("pre-registered");
        await Assert.That(handler.Calls).IsEqualTo(0);
    }

    [Test]
    [Arguments("http://client.example.com/kheish.json", "https")]
    [Arguments("http://127.0.0.1:8080/kheish.json", "https")]
    [Arguments("https://user:pw@client.example.com/kheish.json", "user info")]
    [Arguments("https://client.example.com/kheish.json#x", "fragment")]
    [Arguments("https://client.example.com/", "must have a path")]
    [Arguments("https://client.example.com/kheish.json?v=1", "query")]
    public async Task Bad_metadata_urls_are_refused_naming_the_rule(string url, string reason)
    {
        string? problem = McpOauthUrls.CheckClientMetadataUrl(url, "--client-metadata-url");
        await Assert.That(problem).IsNotNull();
        await Assert.That(problem!).Contains(reason);
        await Assert.That(problem!).Contains("--client-metadata-url");
    }

    [Test]
    public async Task A_good_metadata_url_passes()
    {
        await Assert.That(McpOauthUrls.CheckClientMetadataUrl(MetadataUrl.AbsoluteUri, "--client-metadata-url")).IsNull();
    }

    /// <summary>Stands for the registration endpoint: counts requests and answers one registration.</summary>
    private sealed class CountingHandler : HttpMessageHandler
    {
        public int Calls { get; private set; }

        public string? LastUri { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Calls++;
            LastUri = request.RequestUri?.AbsoluteUri;
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.Created)
            {
                Content = new StringContent("""{"client_id":"registered-1"}""", System.Text.Encoding.UTF8, "application/json"),
            });
        }
    }
}
