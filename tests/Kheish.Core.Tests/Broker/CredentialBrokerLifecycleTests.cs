using System.Text;
using System.Text.Json;
using Kheish.Core.Broker;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Broker;

/// <summary>TTLs, persistence, restarts, pruning and the views.</summary>
public sealed class CredentialBrokerLifecycleTests : IDisposable
{
    private static readonly RouteAudience OpenAi = new("openai", "openai.default");
    private readonly BrokerFixture _f = new();

    [Test]
    [Arguments("route", 60)]
    [Arguments("mcp", 60)]
    [Arguments("connector", 300)]
    public async Task Default_ttl_is_the_audience_maximum(string kind, int seconds)
    {
        IssuedLease issued = Issue(kind, ttl: null);

        await Assert.That(issued.Lease.ExpiresAtMs - issued.Lease.IssuedAtMs).IsEqualTo(seconds * 1000L);
    }

    [Test]
    [Arguments("route", 3600, 60)]
    [Arguments("mcp", 61, 60)]
    [Arguments("connector", 301, 300)]
    public async Task Longer_ttl_is_clamped_to_the_maximum(string kind, int askedSeconds, int gotSeconds)
    {
        IssuedLease issued = Issue(kind, TimeSpan.FromSeconds(askedSeconds));

        await Assert.That(issued.Lease.ExpiresAtMs - issued.Lease.IssuedAtMs).IsEqualTo(gotSeconds * 1000L);
    }

    [Test]
    public async Task Shorter_ttl_is_honoured()
    {
        IssuedLease issued = Issue("route", TimeSpan.FromSeconds(5));

        await Assert.That(issued.Lease.ExpiresAtMs - issued.Lease.IssuedAtMs).IsEqualTo(5000);
    }

    [Test]
    public async Task Ttl_below_one_second_is_raised_to_one_second()
    {
        IssuedLease issued = Issue("route", TimeSpan.FromMilliseconds(10));

        await Assert.That(issued.Lease.ExpiresAtMs - issued.Lease.IssuedAtMs).IsEqualTo(1000);
    }

    [Test]
    public async Task Zero_or_negative_ttl_is_refused()
    {
        var result = _f.Broker.IssueRouteLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "openai", "openai.default", TimeSpan.Zero);

        await Assert.That(result.Error?.Code).IsEqualTo("invalid_ttl");
    }

    [Test]
    public async Task Flushed_lease_survives_a_restart()
    {
        IssuedLease issued = _f.IssueRoute();
        await Assert.That(_f.Broker.Flush()).IsNull();

        CredentialBroker reopened = _f.Reopen();

        await Assert.That(reopened.Validate(issued.Token, OpenAi).Value).IsEqualTo(issued.Lease);
    }

    [Test]
    public async Task Lease_expires_across_a_restart()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.Flush();
        _f.Clock.Advance(TimeSpan.FromSeconds(61));

        CredentialBroker reopened = _f.Reopen();

        // Loading prunes expired leases, so the token is no longer known at all.
        await Assert.That(reopened.Validate(issued.Token, OpenAi).Error?.Code).IsEqualTo(BrokerErrors.LeaseUnknown);
        await Assert.That(reopened.LeaseCount).IsEqualTo(0);
    }

    [Test]
    public async Task Unflushed_lease_is_unknown_after_a_crash()
    {
        IssuedLease issued = _f.IssueRoute();

        CredentialBroker reopened = _f.Reopen();

        await Assert.That(reopened.Validate(issued.Token, OpenAi).Error?.Code).IsEqualTo(BrokerErrors.LeaseUnknown);
    }

    [Test]
    public async Task Lease_revocation_is_durable_before_it_returns()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.Flush();

        _f.Broker.RevokeLease(LeaseId.Parse(issued.Lease.Id).Value);
        CredentialBroker reopened = _f.Reopen();

        await Assert.That(reopened.Validate(issued.Token, OpenAi).Error?.Code).IsEqualTo(BrokerErrors.LeaseRevoked);
        await Assert.That(reopened.GetLeaseStatus(LeaseId.Parse(issued.Lease.Id).Value).Value.Revoked).IsTrue();
    }

    [Test]
    public async Task Subject_revocation_is_durable()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.Flush();

        _f.Broker.RevokeSubject(BrokerFixture.Agent);
        CredentialBroker reopened = _f.Reopen();

        await Assert.That(reopened.IsSubjectRevoked(BrokerFixture.Agent)).IsTrue();
        await Assert.That(reopened.Validate(issued.Token, OpenAi).Error?.Code).IsEqualTo(BrokerErrors.SubjectRevoked);
        await Assert.That(reopened.GetLeaseStatus(LeaseId.Parse(issued.Lease.Id).Value).Value.Revoked).IsTrue();
        await Assert.That(reopened.GetSubjectStatus(BrokerFixture.Agent).CurrentEpoch).IsEqualTo(1);
    }

    [Test]
    public async Task Slot_revocation_is_durable()
    {
        _f.Broker.RevokeSlot("openai.default");

        CredentialBroker reopened = _f.Reopen();

        await Assert.That(reopened.CheckSlot("openai.default")?.Code).IsEqualTo(BrokerErrors.SlotRevoked);
    }

    [Test]
    public async Task State_file_is_private_and_holds_no_token()
    {
        IssuedLease issued = _f.IssueRoute();

        _f.Broker.Flush();

        await Assert.That(File.GetUnixFileMode(_f.StatePath)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        string file = File.ReadAllText(_f.StatePath);
        await Assert.That(file).DoesNotContain(issued.Token);
        await Assert.That(file).Contains(LeaseToken.Encode(LeaseToken.Digest(issued.Token)));
    }

    [Test]
    public async Task Pruning_drops_expired_leases_and_their_grants_from_the_file()
    {
        for (int i = 0; i < 50; i++)
        {
            _f.IssueRoute();
        }

        _f.Broker.Flush();
        int before = File.ReadAllBytes(_f.StatePath).Length;
        _f.Clock.Advance(TimeSpan.FromSeconds(61));
        IssuedLease live = _f.IssueRoute();

        _f.Broker.Flush();

        BrokerState state = ReadState();
        await Assert.That(state.IssuedRouteLeases.Keys).IsEquivalentTo([live.Lease.Id], CollectionOrdering.Matching);
        await Assert.That(state.IssuedGrants.Keys).IsEquivalentTo([live.Lease.GrantId], CollectionOrdering.Matching);
        await Assert.That(File.ReadAllBytes(_f.StatePath).Length < before / 10).IsTrue();
    }

    [Test]
    public async Task Spent_lease_revocations_are_pruned_after_the_lease_expires()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.RevokeLease(LeaseId.Parse(issued.Lease.Id).Value);
        _f.Broker.Flush();
        await Assert.That(ReadState().RevokedLeases.Keys).Contains(issued.Lease.Id);

        _f.Clock.Advance(TimeSpan.FromSeconds(60));
        _f.Broker.Flush();

        await Assert.That(ReadState().RevokedLeases).IsEmpty();
        await Assert.That(ReadState().IssuedRouteLeases).IsEmpty();
    }

    [Test]
    public async Task Subject_tombstones_are_never_pruned()
    {
        _f.Broker.RevokeSubject(BrokerFixture.Agent);

        _f.Clock.Advance(TimeSpan.FromDays(400));
        _f.Broker.Flush();

        await Assert.That(_f.Reopen().IsSubjectRevoked(BrokerFixture.Agent)).IsTrue();
    }

    [Test]
    public async Task Memory_stays_bounded_under_sustained_issuing()
    {
        for (int i = 0; i < 10_000; i++)
        {
            _f.IssueRoute(ttl: TimeSpan.FromSeconds(1));
            _f.Clock.Advance(TimeSpan.FromMilliseconds(10));
        }

        // Only ~100 leases are alive at any time; amortised pruning keeps at most a few thousand.
        await Assert.That(_f.Broker.LeaseCount <= 2100).IsTrue().Because($"{_f.Broker.LeaseCount} leases held");
    }

    [Test]
    public async Task Lease_view_never_contains_the_token_or_its_digest()
    {
        IssuedLease issued = _f.IssueRoute();
        LeaseStatus status = _f.Broker.GetLeaseStatus(LeaseId.Parse(issued.Lease.Id).Value).Value;

        string json = JsonSerializer.Serialize(status, BrokerJsonContext.Default.LeaseStatus);

        await Assert.That(json).DoesNotContain("digest");
        await Assert.That(json).DoesNotContain(issued.Token);
        await Assert.That(json).DoesNotContain(LeaseToken.Encode(LeaseToken.Digest(issued.Token)));
        await Assert.That(json).Contains("\"audience\":{\"type\":\"route\",\"route_id\":\"openai\",\"slot_id\":\"openai.default\"}");
        await Assert.That(json).Contains("\"active\":true");
    }

    [Test]
    public async Task Subject_view_lists_active_leases_by_kind_and_omits_empty_lists()
    {
        IssuedLease route = _f.IssueRoute();
        IssuedLease revoked = _f.IssueRoute();
        _f.Broker.RevokeLease(LeaseId.Parse(revoked.Lease.Id).Value);

        string json = JsonSerializer.Serialize(_f.Broker.GetSubjectStatus(BrokerFixture.Agent), BrokerJsonContext.Default.SubjectStatus);

        await Assert.That(json).IsEqualTo($"{{\"subject_id\":\"agent:coder\",\"current_epoch\":0,\"revoked\":false,\"active_route_lease_ids\":[\"{route.Lease.Id}\"]}}");
    }

    [Test]
    public async Task Lease_status_of_an_unknown_lease_is_not_found()
    {
        var result = _f.Broker.GetLeaseStatus(LeaseId.Parse("mcp-lease-0123456789abcdef0123456789abcdef").Value);

        await Assert.That(result.Error?.Kind).IsEqualTo(ErrorKind.NotFound);
    }

    [Test]
    public async Task Codec_sees_every_write_and_read_with_the_broker_purpose()
    {
        var codec = new ReversingCodec();
        using var f = new BrokerFixture(codec);
        IssuedLease issued = f.IssueRoute();

        f.Broker.Flush();

        await Assert.That(File.ReadAllText(f.StatePath)).StartsWith("}");
        await Assert.That(f.Reopen().Validate(issued.Token, OpenAi).IsOk).IsTrue();
        await Assert.That(codec.Purposes.Distinct()).IsEquivalentTo(["broker-state"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Codec_failure_on_load_is_reported_as_is()
    {
        _f.Broker.RevokeSlot("x");
        _f.Broker.Flush();

        var result = CredentialBroker.Open(_f.StatePath, new FailingCodec(), _f.Clock);

        await Assert.That(result.Error?.Code).IsEqualTo("wrong_key");
    }

    [Test]
    public async Task Corrupt_state_file_is_refused_naming_the_file()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_f.StatePath)!);
        File.WriteAllText(_f.StatePath, "{\"version\":1,\"revoked_subjects\":");

        var result = CredentialBroker.Open(_f.StatePath, PlainStateFileCodec.Instance, _f.Clock);

        await Assert.That(result.Error?.Kind).IsEqualTo(ErrorKind.Misconfigured);
        await Assert.That(result.Error!.Message).Contains(_f.StatePath);
    }

    [Test]
    public async Task Concurrent_issue_validate_and_revoke_never_lets_a_revoked_lease_through()
    {
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 8, worker =>
        {
            SubjectId subject = SubjectId.ForAgent("w" + worker);
            for (int i = 0; i < 200; i++)
            {
                IssuedLease issued = _f.Broker.IssueRouteLease(subject, CredentialScope.Unrestricted, "openai", "openai.default").Value;
                if (!_f.Broker.Validate(issued.Token, OpenAi).IsOk)
                {
                    failures.Add("fresh lease refused");
                }

                if (i % 50 == 0)
                {
                    _f.Broker.RevokeLease(LeaseId.Parse(issued.Lease.Id).Value);
                    if (_f.Broker.Validate(issued.Token, OpenAi).IsOk)
                    {
                        failures.Add("revoked lease accepted");
                    }
                }
            }
        });

        await Assert.That(failures).IsEmpty();
        await Assert.That(_f.Broker.Flush()).IsNull();
        await Assert.That(ReadState().RevokedLeases.Count).IsEqualTo(8 * 4);
    }

    private IssuedLease Issue(string kind, TimeSpan? ttl) => kind switch
    {
        "route" => _f.IssueRoute(ttl: ttl),
        "mcp" => _f.Broker.IssueMcpLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "linear", "mcp.oauth.linear", ["read"], ttl).Value,
        _ => _f.Broker.IssueConnectorLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "gh", ["GITHUB_TOKEN"], [], ttl).Value,
    };

    private BrokerState ReadState() =>
        JsonSerializer.Deserialize(File.ReadAllBytes(_f.StatePath), BrokerJsonContext.Default.BrokerState)!;

    public void Dispose() => _f.Dispose();

    private sealed class ReversingCodec : IStateFileCodec
    {
        public List<string> Purposes { get; } = [];

        public bool IsPlain => false;

        public byte[] Encode(byte[] json, string purpose)
        {
            Purposes.Add(purpose);
            return json.Reverse().ToArray();
        }

        public Result<byte[]> Decode(byte[] file, string purpose)
        {
            Purposes.Add(purpose);
            return file.Reverse().ToArray();
        }
    }

    private sealed class FailingCodec : IStateFileCodec
    {
        public bool IsPlain => false;

        public byte[] Encode(byte[] json, string purpose) => json;

        public Result<byte[]> Decode(byte[] file, string purpose) =>
            KheishError.Misconfigured("wrong_key", Encoding.UTF8.GetString("encrypted with another key"u8));
    }
}
