using Kheish.Core.Broker;

namespace Kheish.Core.Tests.Broker;

public sealed class BrokerIdTests
{
    [Theory]
    [InlineData("daemon")]
    [InlineData("agent:coder")]
    [InlineData("session:ses-01")]
    [InlineData("connector:github")]
    [InlineData("apikey:ci.bot")]
    [InlineData("principal:team@x:1")]
    public void Valid_subject_ids_parse(string id)
    {
        Assert.Equal(id, SubjectId.Parse(id).Value.Value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("agent:")]
    [InlineData("robot:x")]
    [InlineData("agent:a b")]
    [InlineData("agent:../x")]
    [InlineData("Daemon")]
    public void Invalid_subject_ids_are_refused(string id)
    {
        Assert.Equal("invalid_subject_id", SubjectId.Parse(id).Error?.Code);
    }

    [Theory]
    [InlineData("route-lease-0123456789abcdef0123456789abcdef", true)]
    [InlineData("connector-lease-0123456789abcdef0123456789abcdef", true)]
    [InlineData("mcp-lease-0123456789abcdef0123456789abcdef", true)]
    [InlineData("route-lease-0123456789ABCDEF0123456789abcdef", false)]
    [InlineData("route-lease-0123", false)]
    [InlineData("lease-0123456789abcdef0123456789abcdef", false)]
    public void Lease_ids_are_a_known_prefix_and_32_lowercase_hex_digits(string id, bool valid)
    {
        Assert.Equal(valid, LeaseId.TryParse(id, out _));
    }
}
