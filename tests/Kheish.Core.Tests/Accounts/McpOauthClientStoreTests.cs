using Kheish.Core.Accounts;
using Kheish.Core.Crypto;
using Kheish.Core.Storage;

namespace Kheish.Core.Tests.Accounts;

/// <summary>The stored public clients of <c>mcp oauth login</c>: keyed by issuer and redirect URI, encrypted, secret-free.</summary>
public sealed class McpOauthClientStoreTests : IDisposable
{
    private const string Issuer = "https://as.example.com";
    private const string Redirect = "http://127.0.0.1:5555/callback";
    private readonly string _dir = Directory.CreateTempSubdirectory("kheish-oauth-clients-").FullName;
    private readonly MasterKey _key = MasterKey.Generate();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private StateRoot Root => new(Path.Combine(_dir, "state"));

    private McpOauthClientStore Store(MasterKey? key = null) => new(Root, key ?? _key);

    [Test]
    public async Task A_remembered_client_is_found_for_its_issuer_and_survives_a_new_store_instance()
    {
        await Assert.That(Store().Remember(new McpOauthStoredClient(Issuer, Redirect, "client-1")).IsOk).IsTrue();
        var found = Store().Find(Issuer);
        await Assert.That(found.IsOk).IsTrue();
        await Assert.That(found.Value.Count).IsEqualTo(1);
        await Assert.That(found.Value[0].ClientId).IsEqualTo("client-1");
        await Assert.That(found.Value[0].Port).IsEqualTo(5555);
        await Assert.That(found.Value[0].RegisteredAtMs).IsGreaterThan(0);
    }

    [Test]
    [Arguments("https://as.example.com/")]
    [Arguments("https://AS.example.com")]
    [Arguments("https://as.example.com/tenant1")]
    [Arguments("https://other.example.com")]
    public async Task Another_issuer_string_never_finds_the_client(string other)
    {
        Store().Remember(new McpOauthStoredClient(Issuer, Redirect, "client-1"));
        await Assert.That(Store().Find(other).Value.Count).IsEqualTo(0);
    }

    [Test]
    public async Task The_same_issuer_and_redirect_replace_each_other_and_another_port_is_its_own_client()
    {
        McpOauthClientStore store = Store();
        store.Remember(new McpOauthStoredClient(Issuer, Redirect, "old"));
        store.Remember(new McpOauthStoredClient(Issuer, Redirect, "new"));
        store.Remember(new McpOauthStoredClient(Issuer, "http://127.0.0.1:6666/callback", "other-port"));
        string[] ids = [.. store.Find(Issuer).Value.Select(c => c.ClientId)];
        await Assert.That(ids.Order()).IsEquivalentTo(["new", "other-port"], CollectionOrdering.Matching);
        await Assert.That(McpOauthClientStore.KeyOf(Issuer, Redirect)).IsNotEqualTo(McpOauthClientStore.KeyOf(Issuer, "http://127.0.0.1:6666/callback"));
        await Assert.That(McpOauthClientStore.KeyOf(Issuer, Redirect)).IsNotEqualTo(McpOauthClientStore.KeyOf(Issuer + "/", Redirect));
    }

    [Test]
    public async Task Forget_drops_only_that_client_and_reports_a_missing_one()
    {
        McpOauthClientStore store = Store();
        store.Remember(new McpOauthStoredClient(Issuer, Redirect, "a"));
        store.Remember(new McpOauthStoredClient("https://b.example.com", Redirect, "b"));
        await Assert.That(store.Forget(Issuer, Redirect).Value).IsTrue();
        await Assert.That(store.Forget(Issuer, Redirect).Value).IsFalse();
        await Assert.That(store.Find(Issuer).Value.Count).IsEqualTo(0);
        await Assert.That(store.Find("https://b.example.com").Value[0].ClientId).IsEqualTo("b");
    }

    [Test]
    public async Task The_file_is_an_envelope_that_a_wrong_key_cannot_open_and_holds_no_plaintext()
    {
        Store().Remember(new McpOauthStoredClient(Issuer, Redirect, "client-visible-only-decrypted"));
        byte[] file = File.ReadAllBytes(Root.McpOauthClientsFile);
        await Assert.That(EnvelopeCodec.IsEnvelope(file)).IsTrue();
        await Assert.That(System.Text.Encoding.UTF8.GetString(file)).DoesNotContain("client-visible-only-decrypted");
        var wrong = Store(MasterKey.Generate()).Find(Issuer);
        await Assert.That(wrong.IsOk).IsFalse();
        await Assert.That(new McpOauthClientStore(Root, null).Find(Issuer).Error!.Code).IsEqualTo("master_key_required");
        await Assert.That(EnvelopeRekey.FindEnvelopes(Root).Any(e => e.Purpose == McpOauthClientStore.Purpose)).IsTrue();
    }

    [Test]
    [Arguments("https://as.example.com", "http://localhost:5555/callback")]
    [Arguments("https://as.example.com", "https://127.0.0.1:5555/callback")]
    [Arguments("https://as.example.com", "http://127.0.0.1:5555/other")]
    [Arguments("https://as.example.com", "http://127.0.0.1/callback")]
    [Arguments("https://user:pw@as.example.com", "http://127.0.0.1:5555/callback")]
    [Arguments("http://as.example.com", "http://127.0.0.1:5555/callback")]
    public async Task Only_a_loopback_callback_and_a_clean_issuer_can_be_stored(string issuer, string redirect)
    {
        var stored = Store().Remember(new McpOauthStoredClient(issuer, redirect, "x"));
        await Assert.That(stored.IsOk).IsFalse();
        await Assert.That(stored.Error!.Code).IsEqualTo("mcp_oauth_client_invalid");
        await Assert.That(File.Exists(Root.McpOauthClientsFile)).IsFalse();
    }

    [Test]
    public async Task Only_a_freshly_registered_public_client_is_storable()
    {
        await Assert.That(new McpOauthClient("a", null, McpOauthAccount.AuthNone, "registered").Storable).IsTrue();
        await Assert.That(new McpOauthClient("a", "secret", McpOauthAccount.AuthBasic, "registered").Storable).IsFalse();
        await Assert.That(new McpOauthClient("a", null, McpOauthAccount.AuthNone, "pre_registered").Storable).IsFalse();
        await Assert.That(new McpOauthClient("https://c.example.com/m.json", null, McpOauthAccount.AuthNone, "metadata_document").Storable).IsFalse();
        await Assert.That(new McpOauthClient("a", null, McpOauthAccount.AuthNone, "reused").Storable).IsFalse();
        await Assert.That(new McpOauthClient("a", "secret", McpOauthAccount.AuthBasic, "registered").ToString()).DoesNotContain("secret,");
    }

    [Test]
    [Arguments(null, null, null, "none")]
    [Arguments("s", null, null, "client_secret_basic")]
    [Arguments("s", "client_secret_post", null, "client_secret_post")]
    [Arguments("s", null, "client_secret_post", "client_secret_post")]
    [Arguments("s", null, "client_secret_basic client_secret_post", "client_secret_basic")]
    [Arguments("s", null, "none", "client_secret_basic")]
    public async Task The_token_endpoint_auth_method_follows_the_registration_then_the_metadata(string? secret, string? registered, string? supported, string expected)
    {
        string auth = McpOauthLogin.ClientAuth(secret, registered, supported?.Split(' '));
        await Assert.That(auth).IsEqualTo(expected);
    }

    [Test]
    [Arguments("http://127.0.0.1:9/mcp", "http://127.0.0.1:9/mcp", true)]
    [Arguments("http://127.0.0.1:9", "http://127.0.0.1:9/mcp", true)]
    [Arguments("http://127.0.0.1:9/", "http://127.0.0.1:9/mcp", true)]
    [Arguments("http://127.0.0.1:9/api", "http://127.0.0.1:9/api/mcp", true)]
    [Arguments("http://127.0.0.1:9/ap", "http://127.0.0.1:9/api/mcp", false)]
    [Arguments("http://127.0.0.1:9/other", "http://127.0.0.1:9/mcp", false)]
    [Arguments("http://127.0.0.1:10", "http://127.0.0.1:9/mcp", false)]
    [Arguments("https://127.0.0.1:9", "http://127.0.0.1:9/mcp", false)]
    public async Task The_metadata_resource_may_name_the_url_or_a_parent_on_the_same_origin(string resource, string url, bool covers)
    {
        await Assert.That(McpOauthLogin.ResourceCovers(resource, new Uri(url))).IsEqualTo(covers);
    }

    [Test]
    [Arguments(400, "invalid_client", true)]
    [Arguments(401, "invalid_client", true)]
    [Arguments(400, "invalid_grant", false)]
    [Arguments(401, "invalid_token", false)]
    public async Task A_stored_client_is_rejected_only_on_invalid_client_whatever_the_status(int status, string error, bool rejected)
    {
        using var handler = new FixedAnswer(status, $$"""{"error":"{{error}}","error_description":"x"}""");
        using var http = new HttpClient(handler);
        var discovery = new McpOauthDiscovery("https://mcp.example.com/mcp", Issuer, Issuer + "/authorize", Issuer + "/token", null, false, []);
        bool result = await new McpOauthLogin(http).ClientRejectedAsync(discovery, "client-1", new Uri(Redirect), CancellationToken.None);
        await Assert.That(result).IsEqualTo(rejected);
        await Assert.That(handler.Body).Contains("client_id=client-1");
        await Assert.That(handler.Body).Contains("grant_type=authorization_code");
    }

    private sealed class FixedAnswer(int status, string json) : HttpMessageHandler
    {
        public string Body { get; private set; } = "";

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
            return new HttpResponseMessage((System.Net.HttpStatusCode)status) { Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
        }
    }
}
