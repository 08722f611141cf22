using System.Net;
using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Access;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Access;

public sealed class IpRuleTests
{
    [Test]
    [Arguments("127.0.0.1", "127.0.0.1")]
    [Arguments(" 10.0.0.0/8 ", "10.0.0.0/8")]
    [Arguments("::1", "::1")]
    [Arguments("fd00::/8", "fd00::/8")]
    [Arguments("::ffff:127.0.0.1", "127.0.0.1")]
    [Arguments("::ffff:10.0.0.0/104", "10.0.0.0/8")]
    [Arguments("0.0.0.0/0", "0.0.0.0/0")]
    public async Task Valid_entries_are_stored_in_canonical_form(string entry, string canonical)
    {
        await Assert.That(IpRule.Parse(entry).Value.ToString()).IsEqualTo(canonical);
    }

    [Test]
    [Arguments("", "required")]
    [Arguments("localhost", "IPv4")]
    [Arguments("127.1", "IPv4")]
    [Arguments("010.0.0.1", "leading zeros")]
    [Arguments("256.0.0.1", "IPv4")]
    [Arguments("10.0.0.1/8", "10.0.0.0/8")]
    [Arguments("10.0.0.0/33", "0 to 32")]
    [Arguments("10.0.0.0/-1", "0 to 32")]
    [Arguments("fe80::1%eth0", "zone")]
    [Arguments("[::1]", "brackets")]
    [Arguments("::ffff:10.0.0.0/80", "/96")]
    [Arguments("2001:db8::/129", "0 to 128")]
    public async Task Invalid_entries_are_rejected_with_a_precise_reason(string entry, string reasonFragment)
    {
        Result<IpRule> r = IpRule.Parse(entry);

        await Assert.That(r.IsOk).IsFalse();
        await Assert.That(r.Error!.Code).IsEqualTo("invalid_ip_entry");
        await Assert.That(r.Error.Message).Contains(reasonFragment);
    }

    [Test]
    [Arguments("10.1.0.0/16", "10.1.255.3", true)]
    [Arguments("10.1.0.0/16", "10.2.0.1", false)]
    [Arguments("2001:db8::/32", "2001:db8:ffff::1", true)]
    [Arguments("2001:db8::/32", "2001:db9::1", false)]
    [Arguments("127.0.0.1", "::ffff:127.0.0.1", true)]
    [Arguments("::ffff:192.168.0.0/112", "192.168.7.7", true)]
    [Arguments("::1", "127.0.0.1", false)]
    [Arguments("0.0.0.0/0", "::1", false)]
    public async Task Cidr_membership_is_by_prefix_after_normalisation(string entry, string client, bool expected)
    {
        IpRule rule = IpRule.Parse(entry).Value;

        await Assert.That(rule.Contains(IpRule.Normalize(IPAddress.Parse(client)))).IsEqualTo(expected);
    }

    [Test]
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
