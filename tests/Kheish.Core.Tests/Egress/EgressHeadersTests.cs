using Kheish.Core.Egress;

namespace Kheish.Core.Tests.Egress;

public sealed class EgressHeadersTests
{
    private static readonly HashSet<string> NoneNamed = [];

    [Test]
    [Arguments("Authorization")]
    [Arguments("authorization")]
    [Arguments("x-api-key")]
    [Arguments("X-API-Key")]
    [Arguments("x-goog-api-key")]
    [Arguments("Proxy-Authorization")]
    [Arguments("Cookie")]
    [Arguments("Host")]
    [Arguments("X-Kheish-Run-Id")]
    [Arguments("x-kheish-anything")]
    [Arguments("Connection")]
    [Arguments("Keep-Alive")]
    [Arguments("TE")]
    [Arguments("Trailer")]
    [Arguments("Transfer-Encoding")]
    [Arguments("Upgrade")]
    [Arguments("Proxy-Connection")]
    public async Task Agent_request_header_is_not_forwarded(string name)
    {
        await Assert.That(EgressHeaders.ForwardRequestHeader(name, NoneNamed)).IsFalse();
    }

    [Test]
    [Arguments("Content-Type")]
    [Arguments("Accept")]
    [Arguments("OpenAI-Beta")]
    [Arguments("anthropic-version")]
    [Arguments("User-Agent")]
    public async Task Ordinary_request_header_is_forwarded(string name)
    {
        await Assert.That(EgressHeaders.ForwardRequestHeader(name, NoneNamed)).IsTrue();
    }

    [Test]
    public async Task Headers_named_by_connection_are_hop_by_hop()
    {
        HashSet<string> named = EgressHeaders.ConnectionNamed(["keep-alive, X-Custom-Hop", null]);

        await Assert.That(EgressHeaders.ForwardRequestHeader("x-custom-hop", named)).IsFalse();
        await Assert.That(EgressHeaders.RelayResponseHeader("X-Custom-Hop", named)).IsFalse();
        await Assert.That(EgressHeaders.ForwardRequestHeader("X-Other", named)).IsTrue();
    }

    [Test]
    [Arguments("Set-Cookie")]
    [Arguments("X-Auth-Token")]
    [Arguments("x-amz-security-token")]
    [Arguments("X-Api-Key")]
    [Arguments("X-Secret-Thing")]
    [Arguments("Authorization")]
    [Arguments("Transfer-Encoding")]
    [Arguments("Proxy-Authenticate")]
    public async Task Credential_looking_response_header_is_not_relayed(string name)
    {
        await Assert.That(EgressHeaders.RelayResponseHeader(name, NoneNamed)).IsFalse();
    }

    [Test]
    [Arguments("x-ratelimit-remaining-tokens")]
    [Arguments("x-ratelimit-limit-tokens")]
    [Arguments("Content-Type")]
    [Arguments("x-request-id")]
    [Arguments("openai-processing-ms")]
    public async Task Ordinary_response_header_is_relayed(string name)
    {
        await Assert.That(EgressHeaders.RelayResponseHeader(name, NoneNamed)).IsTrue();
    }
}
