using System.Net;
using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Access;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Access;

public sealed class IpRuleTests
{
    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData(" 10.0.0.0/8 ", "10.0.0.0/8")]
    [InlineData("::1", "::1")]
    [InlineData("fd00::/8", "fd00::/8")]
    [InlineData("::ffff:127.0.0.1", "127.0.0.1")]
    [InlineData("::ffff:10.0.0.0/104", "10.0.0.0/8")]
    [InlineData("0.0.0.0/0", "0.0.0.0/0")]
    public void Valid_entries_are_stored_in_canonical_form(string entry, string canonical)
    {
        Assert.Equal(canonical, IpRule.Parse(entry).Value.ToString());
    }

    [Theory]
    [InlineData("", "required")]
    [InlineData("localhost", "IPv4")]
    [InlineData("127.1", "IPv4")]
    [InlineData("010.0.0.1", "leading zeros")]
    [InlineData("256.0.0.1", "IPv4")]
    [InlineData("10.0.0.1/8", "10.0.0.0/8")]
    [InlineData("10.0.0.0/33", "0 to 32")]
    [InlineData("10.0.0.0/-1", "0 to 32")]
    [InlineData("fe80::1%eth0", "zone")]
    [InlineData("[::1]", "brackets")]
    [InlineData("::ffff:10.0.0.0/80", "/96")]
    [InlineData("2001:db8::/129", "0 to 128")]
    public void Invalid_entries_are_rejected_with_a_precise_reason(string entry, string reasonFragment)
    {
        Result<IpRule> r = IpRule.Parse(entry);

        Assert.False(r.IsOk);
        Assert.Equal("invalid_ip_entry", r.Error.Code);
        Assert.Contains(reasonFragment, r.Error.Message);
    }

    [Theory]
    [InlineData("10.1.0.0/16", "10.1.255.3", true)]
    [InlineData("10.1.0.0/16", "10.2.0.1", false)]
    [InlineData("2001:db8::/32", "2001:db8:ffff::1", true)]
    [InlineData("2001:db8::/32", "2001:db9::1", false)]
    [InlineData("127.0.0.1", "::ffff:127.0.0.1", true)]
    [InlineData("::ffff:192.168.0.0/112", "192.168.7.7", true)]
    [InlineData("::1", "127.0.0.1", false)]
    [InlineData("0.0.0.0/0", "::1", false)]
    public void Cidr_membership_is_by_prefix_after_normalisation(string entry, string client, bool expected)
    {
        IpRule rule = IpRule.Parse(entry).Value;

        Assert.Equal(expected, rule.Contains(IpRule.Normalize(IPAddress.Parse(client))));
    }

    [Fact]
    public void Every_IPv4_address_and_its_mapped_form_are_one_client()
    {
        Prop.ForAll<uint>(raw =>
        {
            var v4 = new IPAddress(BitConverter.GetBytes(raw));
            IpRule rule = IpRule.Parse(v4.ToString()).Value;
            return rule.Contains(IpRule.Normalize(v4.MapToIPv6())) && rule.Contains(IpRule.Normalize(v4));
        }).QuickCheckThrowOnFailure();
    }
}
