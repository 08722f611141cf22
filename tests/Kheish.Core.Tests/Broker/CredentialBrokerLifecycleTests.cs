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

    [Theory]
    [InlineData("route", 60)]
    [InlineData("mcp", 60)]
    [InlineData("connector", 300)]
    public void Default_ttl_is_the_audience_maximum(string kind, int seconds)
    {
        IssuedLease issued = Issue(kind, ttl: null);

        Assert.Equal(seconds * 1000L, issued.Lease.ExpiresAtMs - issued.Lease.IssuedAtMs);
    }

    [Theory]
    [InlineData("route", 3600, 60)]
    [InlineData("mcp", 61, 60)]
    [InlineData("connector", 301, 300)]
    public void Longer_ttl_is_clamped_to_the_maximum(string kind, int askedSeconds, int gotSeconds)
    {
        IssuedLease issued = Issue(kind, TimeSpan.FromSeconds(askedSeconds));

        Assert.Equal(gotSeconds * 1000L, issued.Lease.ExpiresAtMs - issued.Lease.IssuedAtMs);
    }

    [Fact]
    public void Shorter_ttl_is_honoured()
    {
        IssuedLease issued = Issue("route", TimeSpan.FromSeconds(5));

        Assert.Equal(5000, issued.Lease.ExpiresAtMs - issued.Lease.IssuedAtMs);
    }

    [Fact]
    public void Ttl_below_one_second_is_raised_to_one_second()
    {
        IssuedLease issued = Issue("route", TimeSpan.FromMilliseconds(10));

        Assert.Equal(1000, issued.Lease.ExpiresAtMs - issued.Lease.IssuedAtMs);
    }

    [Fact]
    public void Zero_or_negative_ttl_is_refused()
    {
        var result = _f.Broker.IssueRouteLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "openai", "openai.default", TimeSpan.Zero);

        Assert.Equal("invalid_ttl", result.Error?.Code);
    }

    [Fact]
    public void Flushed_lease_survives_a_restart()
    {
        IssuedLease issued = _f.IssueRoute();
        Assert.Null(_f.Broker.Flush());

        CredentialBroker reopened = _f.Reopen();

        Assert.Equal(issued.Lease, reopened.Validate(issued.Token, OpenAi).Value);
    }

    [Fact]
    public void Lease_expires_across_a_restart()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.Flush();
        _f.Clock.Advance(TimeSpan.FromSeconds(61));

        CredentialBroker reopened = _f.Reopen();

        // Loading prunes expired leases, so the token is no longer known at all.
        Assert.Equal(BrokerErrors.LeaseUnknown, reopened.Validate(issued.Token, OpenAi).Error?.Code);
        Assert.Equal(0, reopened.LeaseCount);
    }

    [Fact]
    public void Unflushed_lease_is_unknown_after_a_crash()
    {
        IssuedLease issued = _f.IssueRoute();

        CredentialBroker reopened = _f.Reopen();

        Assert.Equal(BrokerErrors.LeaseUnknown, reopened.Validate(issued.Token, OpenAi).Error?.Code);
    }

    [Fact]
    public void Lease_revocation_is_durable_before_it_returns()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.Flush();

        _f.Broker.RevokeLease(LeaseId.Parse(issued.Lease.Id).Value);
        CredentialBroker reopened = _f.Reopen();

        Assert.Equal(BrokerErrors.LeaseRevoked, reopened.Validate(issued.Token, OpenAi).Error?.Code);
        Assert.True(reopened.GetLeaseStatus(LeaseId.Parse(issued.Lease.Id).Value).Value.Revoked);
    }

    [Fact]
    public void Subject_revocation_is_durable()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.Flush();

        _f.Broker.RevokeSubject(BrokerFixture.Agent);
        CredentialBroker reopened = _f.Reopen();

        Assert.True(reopened.IsSubjectRevoked(BrokerFixture.Agent));
        Assert.Equal(BrokerErrors.SubjectRevoked, reopened.Validate(issued.Token, OpenAi).Error?.Code);
        Assert.True(reopened.GetLeaseStatus(LeaseId.Parse(issued.Lease.Id).Value).Value.Revoked);
        Assert.Equal(1, reopened.GetSubjectStatus(BrokerFixture.Agent).CurrentEpoch);
    }

    [Fact]
    public void Slot_revocation_is_durable()
    {
        _f.Broker.RevokeSlot("openai.default");

        CredentialBroker reopened = _f.Reopen();

        Assert.Equal(BrokerErrors.SlotRevoked, reopened.CheckSlot("openai.default")?.Code);
    }

    [Fact]
    public void State_file_is_private_and_holds_no_token()
    {
        IssuedLease issued = _f.IssueRoute();

        _f.Broker.Flush();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_f.StatePath));
        string file = File.ReadAllText(_f.StatePath);
        Assert.DoesNotContain(issued.Token, file);
        Assert.Contains(LeaseToken.Encode(LeaseToken.Digest(issued.Token)), file);
    }

    [Fact]
    public void Pruning_drops_expired_leases_and_their_grants_from_the_file()
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
        Assert.Equal([live.Lease.Id], state.IssuedRouteLeases.Keys);
        Assert.Equal([live.Lease.GrantId], state.IssuedGrants.Keys);
        Assert.True(File.ReadAllBytes(_f.StatePath).Length < before / 10);
    }

    [Fact]
    public void Spent_lease_revocations_are_pruned_after_the_lease_expires()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.RevokeLease(LeaseId.Parse(issued.Lease.Id).Value);
        _f.Broker.Flush();
        Assert.Contains(issued.Lease.Id, ReadState().RevokedLeases.Keys);

        _f.Clock.Advance(TimeSpan.FromSeconds(60));
        _f.Broker.Flush();

        Assert.Empty(ReadState().RevokedLeases);
        Assert.Empty(ReadState().IssuedRouteLeases);
    }

    [Fact]
    public void Subject_tombstones_are_never_pruned()
    {
        _f.Broker.RevokeSubject(BrokerFixture.Agent);

        _f.Clock.Advance(TimeSpan.FromDays(400));
        _f.Broker.Flush();

        Assert.True(_f.Reopen().IsSubjectRevoked(BrokerFixture.Agent));
    }

    [Fact]
    public void Memory_stays_bounded_under_sustained_issuing()
    {
        for (int i = 0; i < 10_000; i++)
        {
            _f.IssueRoute(ttl: TimeSpan.FromSeconds(1));
            _f.Clock.Advance(TimeSpan.FromMilliseconds(10));
        }

        // Only ~100 leases are alive at any time; amortised pruning keeps at most a few thousand.
        Assert.True(_f.Broker.LeaseCount <= 2100, $"{_f.Broker.LeaseCount} leases held");
    }

    [Fact]
    public void Lease_view_never_contains_the_token_or_its_digest()
    {
        IssuedLease issued = _f.IssueRoute();
        LeaseStatus status = _f.Broker.GetLeaseStatus(LeaseId.Parse(issued.Lease.Id).Value).Value;

        string json = JsonSerializer.Serialize(status, BrokerJsonContext.Default.LeaseStatus);

        Assert.DoesNotContain("digest", json);
        Assert.DoesNotContain(issued.Token, json);
        Assert.DoesNotContain(LeaseToken.Encode(LeaseToken.Digest(issued.Token)), json);
        Assert.Contains("\"audience\":{\"type\":\"route\",\"route_id\":\"openai\",\"slot_id\":\"openai.default\"}", json);
        Assert.Contains("\"active\":true", json);
    }

    [Fact]
    public void Subject_view_lists_active_leases_by_kind_and_omits_empty_lists()
    {
        IssuedLease route = _f.IssueRoute();
        IssuedLease revoked = _f.IssueRoute();
        _f.Broker.RevokeLease(LeaseId.Parse(revoked.Lease.Id).Value);

        string json = JsonSerializer.Serialize(_f.Broker.GetSubjectStatus(BrokerFixture.Agent), BrokerJsonContext.Default.SubjectStatus);

        Assert.Equal(
            $"{{\"subject_id\":\"agent:coder\",\"current_epoch\":0,\"revoked\":false,\"active_route_lease_ids\":[\"{route.Lease.Id}\"]}}",
            json);
    }

    [Fact]
    public void Lease_status_of_an_unknown_lease_is_not_found()
    {
        var result = _f.Broker.GetLeaseStatus(LeaseId.Parse("mcp-lease-0123456789abcdef0123456789abcdef").Value);

        Assert.Equal(ErrorKind.NotFound, result.Error?.Kind);
    }

    [Fact]
    public void Codec_sees_every_write_and_read_with_the_broker_purpose()
    {
        var codec = new ReversingCodec();
        using var f = new BrokerFixture(codec);
        IssuedLease issued = f.IssueRoute();

        f.Broker.Flush();

        Assert.StartsWith("}", File.ReadAllText(f.StatePath));
        Assert.True(f.Reopen().Validate(issued.Token, OpenAi).IsOk);
        Assert.Equal(["broker-state"], codec.Purposes.Distinct());
    }

    [Fact]
    public void Codec_failure_on_load_is_reported_as_is()
    {
        _f.Broker.RevokeSlot("x");
        _f.Broker.Flush();

        var result = CredentialBroker.Open(_f.StatePath, new FailingCodec(), _f.Clock);

        Assert.Equal("wrong_key", result.Error?.Code);
    }

    [Fact]
    public void Corrupt_state_file_is_refused_naming_the_file()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_f.StatePath)!);
        File.WriteAllText(_f.StatePath, "{\"version\":1,\"revoked_subjects\":");

        var result = CredentialBroker.Open(_f.StatePath, PlainStateFileCodec.Instance, _f.Clock);

        Assert.Equal(ErrorKind.Misconfigured, result.Error?.Kind);
        Assert.Contains(_f.StatePath, result.Error!.Message);
    }

    [Fact]
    public void Concurrent_issue_validate_and_revoke_never_lets_a_revoked_lease_through()
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

        Assert.Empty(failures);
        Assert.Null(_f.Broker.Flush());
        Assert.Equal(8 * 4, ReadState().RevokedLeases.Count);
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
