using Kheish.Core.Egress;

namespace Kheish.Core.Tests.Egress;

public sealed class EgressHeadersTests
{
    private static readonly HashSet<string> NoneNamed = [];

    [Theory]
    [InlineData("Authorization")]
    [InlineData("authorization")]
    [InlineData("x-api-key")]
    [InlineData("X-API-Key")]
    [InlineData("x-goog-api-key")]
    [InlineData("Proxy-Authorization")]
    [InlineData("Cookie")]
    [InlineData("Host")]
    [InlineData("X-Kheish-Run-Id")]
    [InlineData("x-kheish-anything")]
    [InlineData("Connection")]
    [InlineData("Keep-Alive")]
    [InlineData("TE")]
    [InlineData("Trailer")]
    [InlineData("Transfer-Encoding")]
    [InlineData("Upgrade")]
    [InlineData("Proxy-Connection")]
    public void Agent_request_header_is_not_forwarded(string name)
    {
        Assert.False(EgressHeaders.ForwardRequestHeader(name, NoneNamed));
    }

    [Theory]
    [InlineData("Content-Type")]
    [InlineData("Accept")]
    [InlineData("OpenAI-Beta")]
    [InlineData("anthropic-version")]
    [InlineData("User-Agent")]
    public void Ordinary_request_header_is_forwarded(string name)
    {
        Assert.True(EgressHeaders.ForwardRequestHeader(name, NoneNamed));
    }

    [Fact]
    public void Headers_named_by_connection_are_hop_by_hop()
    {
        HashSet<string> named = EgressHeaders.ConnectionNamed(["keep-alive, X-Custom-Hop", null]);

        Assert.False(EgressHeaders.ForwardRequestHeader("x-custom-hop", named));
        Assert.False(EgressHeaders.RelayResponseHeader("X-Custom-Hop", named));
        Assert.True(EgressHeaders.ForwardRequestHeader("X-Other", named));
    }

    [Theory]
    [InlineData("Set-Cookie")]
    [InlineData("X-Auth-Token")]
    [InlineData("x-amz-security-token")]
    [InlineData("X-Api-Key")]
    [InlineData("X-Secret-Thing")]
    [InlineData("Authorization")]
    [InlineData("Transfer-Encoding")]
    [InlineData("Proxy-Authenticate")]
    public void Credential_looking_response_header_is_not_relayed(string name)
    {
        Assert.False(EgressHeaders.RelayResponseHeader(name, NoneNamed));
    }

    [Theory]
    [InlineData("x-ratelimit-remaining-tokens")]
    [InlineData("x-ratelimit-limit-tokens")]
    [InlineData("Content-Type")]
    [InlineData("x-request-id")]
    [InlineData("openai-processing-ms")]
    public void Ordinary_response_header_is_relayed(string name)
    {
        Assert.True(EgressHeaders.RelayResponseHeader(name, NoneNamed));
    }
}
