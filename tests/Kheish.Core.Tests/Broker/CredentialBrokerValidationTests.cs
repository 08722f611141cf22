using Kheish.Core.Broker;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Broker;

/// <summary>One test per validation outcome: each failure has its own reason code.</summary>
public sealed class CredentialBrokerValidationTests : IDisposable
{
    private static readonly RouteAudience OpenAi = new("openai", "openai.default");
    private readonly BrokerFixture _f = new();

    [Fact]
    public void Issued_token_validates_for_its_audience()
    {
        IssuedLease issued = _f.IssueRoute();

        CredentialLease lease = _f.Broker.Validate(issued.Token, OpenAi).Value;

        Assert.Equal(issued.Lease.Id, lease.Id);
        Assert.Equal(BrokerFixture.Agent.Value, lease.SubjectId);
    }

    [Fact]
    public void Token_is_256_bits_of_base64url_and_lease_id_is_prefixed_hex()
    {
        IssuedLease issued = _f.IssueRoute();

        Assert.Equal(32, Convert.FromBase64String(issued.Token.Replace('-', '+').Replace('_', '/') + "=").Length);
        Assert.Matches("^route-lease-[0-9a-f]{32}$", issued.Lease.Id);
        Assert.DoesNotContain(issued.Token, issued.ToString());
    }

    [Fact]
    public void Unknown_token_is_lease_unknown()
    {
        _f.IssueRoute();

        AssertRefused(_f.Broker.Validate(LeaseToken.New(), OpenAi), BrokerErrors.LeaseUnknown, ErrorKind.Unauthorized);
    }

    [Fact]
    public void Malformed_token_is_lease_unknown()
    {
        AssertRefused(_f.Broker.Validate("not a token", OpenAi), BrokerErrors.LeaseUnknown, ErrorKind.Unauthorized);
    }

    [Fact]
    public void Expired_lease_is_lease_expired()
    {
        IssuedLease issued = _f.IssueRoute();

        _f.Clock.Advance(TimeSpan.FromSeconds(60));

        AssertRefused(_f.Broker.Validate(issued.Token, OpenAi), BrokerErrors.LeaseExpired, ErrorKind.Unauthorized);
    }

    [Fact]
    public void Lease_is_valid_until_the_last_millisecond_of_its_ttl()
    {
        IssuedLease issued = _f.IssueRoute();

        _f.Clock.Advance(TimeSpan.FromMilliseconds(59_999));

        Assert.True(_f.Broker.Validate(issued.Token, OpenAi).IsOk);
    }

    [Fact]
    public void Revoked_lease_is_lease_revoked()
    {
        IssuedLease issued = _f.IssueRoute();

        Assert.True(_f.Broker.RevokeLease(LeaseId.Parse(issued.Lease.Id).Value).IsOk);

        AssertRefused(_f.Broker.Validate(issued.Token, OpenAi), BrokerErrors.LeaseRevoked, ErrorKind.Unauthorized);
    }

    [Fact]
    public void Revoke_subject_kills_its_active_leases_at_once()
    {
        IssuedLease a = _f.IssueRoute();
        IssuedLease b = _f.IssueRoute("anthropic", "anthropic.default");
        IssuedLease other = _f.IssueRoute(subject: SubjectId.ForAgent("other"));

        SubjectRevocation revocation = _f.Broker.RevokeSubject(BrokerFixture.Agent).Value;

        Assert.Equal(new[] { a.Lease.Id, b.Lease.Id }.Order(StringComparer.Ordinal), revocation.RevokedLeases);
        Assert.Equal(1, revocation.CurrentEpoch);
        AssertRefused(_f.Broker.Validate(a.Token, OpenAi), BrokerErrors.SubjectRevoked, ErrorKind.Unauthorized);
        Assert.False(_f.Broker.GetLeaseStatus(LeaseId.Parse(b.Lease.Id).Value).Value.Active);
        Assert.True(_f.Broker.Validate(other.Token, OpenAi).IsOk);
    }

    [Fact]
    public void Lease_of_a_revoked_subject_stays_refused_after_a_restart()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.Flush();
        _f.Broker.RevokeSubject(BrokerFixture.Agent);

        CredentialBroker reopened = _f.Reopen();

        AssertRefused(reopened.Validate(issued.Token, OpenAi), BrokerErrors.SubjectRevoked, ErrorKind.Unauthorized);
    }

    [Fact]
    public void Revoked_subject_cannot_get_a_new_lease()
    {
        _f.Broker.RevokeSubject(BrokerFixture.Agent);

        var result = _f.Broker.IssueRouteLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "openai", "openai.default");

        AssertRefused(result, BrokerErrors.SubjectRevoked, ErrorKind.Unauthorized);
    }

    [Fact]
    public void Epoch_bump_makes_earlier_leases_stale_but_new_ones_valid()
    {
        IssuedLease before = _f.IssueRoute();

        Assert.Equal(1, _f.Broker.BumpSubjectEpoch(BrokerFixture.Agent).Value);
        IssuedLease after = _f.IssueRoute();

        AssertRefused(_f.Broker.Validate(before.Token, OpenAi), BrokerErrors.SubjectEpochStale, ErrorKind.Unauthorized);
        Assert.Equal(1, _f.Broker.Validate(after.Token, OpenAi).Value.SubjectEpoch);
    }

    [Fact]
    public void Lease_on_a_tombstoned_slot_is_slot_revoked()
    {
        IssuedLease issued = _f.IssueRoute();

        _f.Broker.RevokeSlot("openai.default");

        AssertRefused(_f.Broker.Validate(issued.Token, OpenAi), BrokerErrors.SlotRevoked, ErrorKind.Forbidden);
    }

    [Fact]
    public void Revoke_slot_revokes_every_lease_drawing_on_it()
    {
        IssuedLease route = _f.IssueRoute();
        IssuedLease mcp = _f.Broker.IssueMcpLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "linear", "openai.default", ["read"]).Value;
        IssuedLease connector = _f.Broker.IssueConnectorLease(
            BrokerFixture.Agent, CredentialScope.Unrestricted, "gh", ["GITHUB_TOKEN"], ["openai.default"]).Value;
        IssuedLease unrelated = _f.IssueRoute("anthropic", "anthropic.default");

        SlotRevocation revocation = _f.Broker.RevokeSlot("openai.default").Value;

        Assert.Equal(new[] { route.Lease.Id, mcp.Lease.Id, connector.Lease.Id }.Order(StringComparer.Ordinal), revocation.RevokedLeases);
        Assert.False(_f.Broker.Validate(route.Token, OpenAi).IsOk);
        Assert.True(_f.Broker.Validate(unrelated.Token, new RouteAudience("anthropic", "anthropic.default")).IsOk);
    }

    [Fact]
    public void Tombstoned_slot_refuses_new_leases()
    {
        _f.Broker.RevokeSlot("openai.default");

        var result = _f.Broker.IssueRouteLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "openai", "openai.default");

        AssertRefused(result, BrokerErrors.SlotRevoked, ErrorKind.Forbidden);
        Assert.Equal("auth slot `openai.default` has been revoked", result.Error!.Message);
    }

    [Fact]
    public void Slot_rewrite_clears_the_tombstone()
    {
        _f.Broker.RevokeSlot("openai.default");

        Assert.True(_f.Broker.OnSlotRewritten("openai.default").Value);

        Assert.Null(_f.Broker.CheckSlot("openai.default"));
        Assert.True(_f.Broker.IssueRouteLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "openai", "openai.default").IsOk);
        Assert.Null(_f.Reopen().CheckSlot("openai.default"));
    }

    [Fact]
    public void Slot_rewrite_does_not_revive_leases_revoked_with_the_slot()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.RevokeSlot("openai.default");

        _f.Broker.OnSlotRewritten("openai.default");

        AssertRefused(_f.Broker.Validate(issued.Token, OpenAi), BrokerErrors.LeaseRevoked, ErrorKind.Unauthorized);
    }

    [Fact]
    public void Route_lease_presented_for_another_route_is_audience_mismatch()
    {
        IssuedLease issued = _f.IssueRoute();

        AssertRefused(_f.Broker.Validate(issued.Token, new RouteAudience("openai", "other.slot")), BrokerErrors.AudienceMismatch, ErrorKind.Forbidden);
        AssertRefused(_f.Broker.Validate(issued.Token, new McpServerAudience("linear", "openai.default", "x")), BrokerErrors.AudienceMismatch, ErrorKind.Forbidden);
    }

    [Fact]
    public void Connector_lease_opens_only_its_own_env_keys()
    {
        IssuedLease issued = _f.Broker.IssueConnectorLease(
            BrokerFixture.Agent, CredentialScope.Unrestricted, "gh", ["GITHUB_TOKEN", "GH_HOST"], ["gh.token"]).Value;

        Assert.True(_f.Broker.ValidateConnectorCredential(issued.Token, "gh", "GITHUB_TOKEN").IsOk);
        AssertRefused(_f.Broker.ValidateConnectorCredential(issued.Token, "gh", "AWS_SECRET"), BrokerErrors.AudienceMismatch, ErrorKind.Forbidden);
        AssertRefused(_f.Broker.ValidateConnectorCredential(issued.Token, "jira", "GITHUB_TOKEN"), BrokerErrors.AudienceMismatch, ErrorKind.Forbidden);
    }

    [Fact]
    public void Mcp_lease_is_bound_to_its_scope_set_in_any_order()
    {
        IssuedLease issued = _f.Broker.IssueMcpLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "linear", "mcp.oauth.linear", ["write", "read", "read"]).Value;

        string sameSet = McpServerAudience.HashScopes(["read", "write"]);
        string wider = McpServerAudience.HashScopes(["read", "write", "admin"]);

        Assert.True(_f.Broker.Validate(issued.Token, new McpServerAudience("linear", "mcp.oauth.linear", sameSet)).IsOk);
        AssertRefused(_f.Broker.Validate(issued.Token, new McpServerAudience("linear", "mcp.oauth.linear", wider)), BrokerErrors.AudienceMismatch, ErrorKind.Forbidden);
    }

    [Fact]
    public void Issue_outside_the_scope_is_scope_denied()
    {
        var scope = new CredentialScope { RouteAllow = ["anthropic"] };

        var result = _f.Broker.IssueRouteLease(BrokerFixture.Agent, scope, "openai", "openai.default");

        AssertRefused(result, BrokerErrors.ScopeDenied, ErrorKind.Forbidden);
    }

    [Fact]
    public void Connector_lease_for_a_credential_denied_by_default_is_scope_denied()
    {
        var scope = new CredentialScope { ConnectorAllow = ["gh"] };

        var result = _f.Broker.IssueConnectorLease(BrokerFixture.Agent, scope, "gh", ["GITHUB_TOKEN"], []);

        AssertRefused(result, BrokerErrors.ScopeDenied, ErrorKind.Forbidden);
    }

    [Fact]
    public void Mcp_lease_for_a_denied_server_is_scope_denied()
    {
        var scope = new CredentialScope { McpServerDeny = ["linear"] };

        var result = _f.Broker.IssueMcpLease(BrokerFixture.Agent, scope, "linear", "mcp.oauth.linear", []);

        AssertRefused(result, BrokerErrors.ScopeDenied, ErrorKind.Forbidden);
    }

    [Fact]
    public void Bad_slot_id_is_refused_before_anything_is_issued()
    {
        var result = _f.Broker.IssueRouteLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "openai", "../etc/passwd");

        Assert.Equal("invalid_slot_id", result.Error?.Code);
        Assert.Equal(0, _f.Broker.LeaseCount);
    }

    private static void AssertRefused<T>(Result<T> result, string code, ErrorKind kind)
    {
        Assert.False(result.IsOk, $"expected {code}");
        Assert.Equal(code, result.Error.Code);
        Assert.Equal(kind, result.Error.Kind);
    }

    public void Dispose() => _f.Dispose();
}
