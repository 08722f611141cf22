using Kheish.Core.Broker;

namespace Kheish.Core.Tests.Broker;

/// <summary>Leases the daemon issues and spends in-process stay in memory (issue 16), or, spent at once, nowhere; revocation stays durable.</summary>
public sealed class InProcessLeaseTests : IDisposable
{
    private static readonly RouteAudience OpenAi = new("openai", "openai.default");
    private static readonly McpServerAudience GitHub = new("github", "mcp.github.TOKEN", McpServerAudience.HashScopes([]));
    private readonly BrokerFixture _f = new();

    private IssuedLease IssueInProcess() =>
        _f.Broker.IssueMcpLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "github", "mcp.github.TOKEN", [], TimeSpan.FromSeconds(5), inProcess: true).Value;

    [Test]
    public async Task An_in_process_lease_validates_like_any_other()
    {
        IssuedLease issued = IssueInProcess();

        await Assert.That(_f.Broker.Validate(issued.Token, GitHub).Value).IsEqualTo(issued.Lease);
    }

    [Test]
    public async Task An_in_process_lease_is_never_written_to_the_state_file()
    {
        IssuedLease inProcess = IssueInProcess();
        IssuedLease handedOut = _f.IssueRoute();

        await Assert.That(_f.Broker.Flush()).IsNull();

        string state = File.ReadAllText(_f.StatePath);
        await Assert.That(state).DoesNotContain(inProcess.Lease.Id);
        await Assert.That(state).DoesNotContain(inProcess.Grant.Id);
        await Assert.That(state).Contains(handedOut.Lease.Id);
    }

    [Test]
    public async Task Issuing_only_in_process_leases_leaves_nothing_to_flush()
    {
        await Assert.That(_f.Broker.Flush()).IsNull();
        DateTime written = File.GetLastWriteTimeUtc(_f.StatePath);
        for (int i = 0; i < 100; i++)
        {
            _ = IssueInProcess();
        }

        _f.Clock.Advance(TimeSpan.FromSeconds(6));
        await Assert.That(_f.Broker.Flush()).IsNull();

        await Assert.That(File.GetLastWriteTimeUtc(_f.StatePath)).IsEqualTo(written);
        await Assert.That(_f.Broker.LeaseCount).IsEqualTo(0);
    }

    [Test]
    public async Task Revoking_the_subject_of_an_in_process_lease_is_durable_and_refuses_it_at_once()
    {
        IssuedLease issued = IssueInProcess();

        await Assert.That(_f.Broker.RevokeSubject(BrokerFixture.Agent).IsOk).IsTrue();

        await Assert.That(_f.Broker.Validate(issued.Token, GitHub).Error?.Code).IsEqualTo(BrokerErrors.SubjectRevoked);
        CredentialBroker reopened = _f.Reopen();
        await Assert.That(reopened.IsSubjectRevoked(BrokerFixture.Agent)).IsTrue();
    }

    [Test]
    public async Task A_lease_spent_at_once_never_enters_the_lease_table_and_is_never_written()
    {
        await Assert.That(_f.Broker.Flush()).IsNull();
        DateTime written = File.GetLastWriteTimeUtc(_f.StatePath);
        IssuedLease route = _f.Broker.SpendRouteLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "openai", "openai.default").Value;
        IssuedLease mcp = _f.Broker.SpendMcpLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "github", "mcp.github.TOKEN", []).Value;

        await Assert.That(_f.Broker.LeaseCount).IsEqualTo(0);
        await Assert.That(route.Token).IsEqualTo("");
        await Assert.That(route.Lease.Id).IsNotEqualTo(mcp.Lease.Id);
        await Assert.That(route.Lease.Audience.Covers(OpenAi)).IsTrue();
        await Assert.That(_f.Broker.Flush()).IsNull();
        await Assert.That(File.GetLastWriteTimeUtc(_f.StatePath)).IsEqualTo(written);
    }

    [Test]
    public async Task A_lease_spent_at_once_is_refused_like_an_issued_one()
    {
        CredentialScope noRoutes = CredentialScope.Nothing;
        await Assert.That(_f.Broker.SpendRouteLease(BrokerFixture.Agent, noRoutes, "openai", "openai.default").IsOk).IsFalse();
        await Assert.That(_f.Broker.SpendMcpLease(BrokerFixture.Agent, noRoutes, "github", "mcp.github.TOKEN", []).IsOk).IsFalse();

        await Assert.That(_f.Broker.RevokeSlot("openai.default").IsOk).IsTrue();
        await Assert.That(_f.Broker.SpendRouteLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "openai", "openai.default").Error?.Code)
            .IsEqualTo(BrokerErrors.SlotRevoked);

        await Assert.That(_f.Broker.RevokeSubject(BrokerFixture.Agent).IsOk).IsTrue();
        await Assert.That(_f.Broker.SpendMcpLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "github", "mcp.github.TOKEN", []).Error?.Code)
            .IsEqualTo(BrokerErrors.SubjectRevoked);
    }

    public void Dispose() => _f.Dispose();
}
