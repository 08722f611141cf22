using Kheish.Core.Broker;

namespace Kheish.Core.Tests.Broker;

/// <summary>Route leases the egress proxy issues and spends in-process stay in memory (issue 16); revocation stays durable.</summary>
public sealed class InProcessLeaseTests : IDisposable
{
    private static readonly RouteAudience OpenAi = new("openai", "openai.default");
    private readonly BrokerFixture _f = new();

    private IssuedLease IssueInProcess() =>
        _f.Broker.IssueRouteLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "openai", "openai.default", TimeSpan.FromSeconds(5), inProcess: true).Value;

    [Fact]
    public void An_in_process_lease_validates_like_any_other()
    {
        IssuedLease issued = IssueInProcess();

        Assert.Equal(issued.Lease, _f.Broker.Validate(issued.Token, OpenAi).Value);
    }

    [Fact]
    public void An_in_process_lease_is_never_written_to_the_state_file()
    {
        IssuedLease inProcess = IssueInProcess();
        IssuedLease handedOut = _f.IssueRoute();

        Assert.Null(_f.Broker.Flush());

        string state = File.ReadAllText(_f.StatePath);
        Assert.DoesNotContain(inProcess.Lease.Id, state);
        Assert.DoesNotContain(inProcess.Grant.Id, state);
        Assert.Contains(handedOut.Lease.Id, state);
    }

    [Fact]
    public void Issuing_only_in_process_leases_leaves_nothing_to_flush()
    {
        Assert.Null(_f.Broker.Flush());
        DateTime written = File.GetLastWriteTimeUtc(_f.StatePath);
        for (int i = 0; i < 100; i++)
        {
            _ = IssueInProcess();
        }

        _f.Clock.Advance(TimeSpan.FromSeconds(6));
        Assert.Null(_f.Broker.Flush());

        Assert.Equal(written, File.GetLastWriteTimeUtc(_f.StatePath));
        Assert.Equal(0, _f.Broker.LeaseCount);
    }

    [Fact]
    public void Revoking_the_subject_of_an_in_process_lease_is_durable_and_refuses_it_at_once()
    {
        IssuedLease issued = IssueInProcess();

        Assert.True(_f.Broker.RevokeSubject(BrokerFixture.Agent).IsOk);

        Assert.Equal(BrokerErrors.SubjectRevoked, _f.Broker.Validate(issued.Token, OpenAi).Error?.Code);
        CredentialBroker reopened = _f.Reopen();
        Assert.True(reopened.IsSubjectRevoked(BrokerFixture.Agent));
    }

    public void Dispose() => _f.Dispose();
}
