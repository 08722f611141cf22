using Kheish.Core.Broker;

namespace Kheish.Core.Tests.Broker;

public sealed class BrokerIdTests
{
    [Test]
    [Arguments("daemon")]
    [Arguments("agent:coder")]
    [Arguments("session:ses-01")]
    [Arguments("connector:github")]
    [Arguments("apikey:ci.bot")]
    [Arguments("principal:team@x:1")]
    public async Task Valid_subject_ids_parse(string id)
    {
        await Assert.That(SubjectId.Parse(id).Value.Value).IsEqualTo(id);
    }

    [Test]
    [Arguments("")]
    [Arguments("agent:")]
    [Arguments("robot:x")]
    [Arguments("agent:a b")]
    [Arguments("agent:../x")]
    [Arguments("Daemon")]
    public async Task Invalid_subject_ids_are_refused(string id)
    {
        await Assert.That(SubjectId.Parse(id).Error?.Code).IsEqualTo("invalid_subject_id");
    }

    [Test]
    [Arguments("route-lease-0123456789abcdef0123456789abcdef", true)]
    [Arguments("connector-lease-0123456789abcdef0123456789abcdef", true)]
    [Arguments("mcp-lease-0123456789abcdef0123456789abcdef", true)]
    [Arguments("route-lease-0123456789ABCDEF0123456789abcdef", false)]
    [Arguments("route-lease-0123", false)]
    [Arguments("lease-0123456789abcdef0123456789abcdef", false)]
    public async Task Lease_ids_are_a_known_prefix_and_32_lowercase_hex_digits(string id, bool valid)
    {
        await Assert.That(LeaseId.TryParse(id, out _)).IsEqualTo(valid);
    }
}
