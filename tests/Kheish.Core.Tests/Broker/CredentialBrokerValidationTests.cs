using Kheish.Core.Broker;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Broker;

/// <summary>One test per validation outcome: each failure has its own reason code.</summary>
public sealed class CredentialBrokerValidationTests : IDisposable
{
    private static readonly RouteAudience OpenAi = new("openai", "openai.default");
    private readonly BrokerFixture _f = new();

    [Test]
    public async Task Issued_token_validates_for_its_audience()
    {
        IssuedLease issued = _f.IssueRoute();

        CredentialLease lease = _f.Broker.Validate(issued.Token, OpenAi).Value;

        await Assert.That(lease.Id).IsEqualTo(issued.Lease.Id);
        await Assert.That(lease.SubjectId).IsEqualTo(BrokerFixture.Agent.Value);
    }

    [Test]
    public async Task Token_is_256_bits_of_base64url_and_lease_id_is_prefixed_hex()
    {
        IssuedLease issued = _f.IssueRoute();

        await Assert.That(Convert.FromBase64String(issued.Token.Replace('-', '+').Replace('_', '/') + "=").Length).IsEqualTo(32);
        await Assert.That(issued.Lease.Id).Matches("^route-lease-[0-9a-f]{32}$");
        await Assert.That(issued.ToString()).DoesNotContain(issued.Token);
    }

    [Test]
    public async Task Unknown_token_is_lease_unknown()
    {
        _f.IssueRoute();

        await AssertRefused(_f.Broker.Validate(LeaseToken.New(), OpenAi), BrokerErrors.LeaseUnknown, ErrorKind.Unauthorized);
    }

    [Test]
    public async Task Malformed_token_is_lease_unknown()
    {
        await AssertRefused(_f.Broker.Validate("not a token", OpenAi), BrokerErrors.LeaseUnknown, ErrorKind.Unauthorized);
    }

    [Test]
    public async Task Expired_lease_is_lease_expired()
    {
        IssuedLease issued = _f.IssueRoute();

        _f.Clock.Advance(TimeSpan.FromSeconds(60));

        await AssertRefused(_f.Broker.Validate(issued.Token, OpenAi), BrokerErrors.LeaseExpired, ErrorKind.Unauthorized);
    }

    [Test]
    public async Task Lease_is_valid_until_the_last_millisecond_of_its_ttl()
    {
        IssuedLease issued = _f.IssueRoute();

        _f.Clock.Advance(TimeSpan.FromMilliseconds(59_999));

        await Assert.That(_f.Broker.Validate(issued.Token, OpenAi).IsOk).IsTrue();
    }

    [Test]
    public async Task Revoked_lease_is_lease_revoked()
    {
        IssuedLease issued = _f.IssueRoute();

        await Assert.That(_f.Broker.RevokeLease(LeaseId.Parse(issued.Lease.Id).Value).IsOk).IsTrue();

        await AssertRefused(_f.Broker.Validate(issued.Token, OpenAi), BrokerErrors.LeaseRevoked, ErrorKind.Unauthorized);
    }

    [Test]
    public async Task Revoke_subject_kills_its_active_leases_at_once()
    {
        IssuedLease a = _f.IssueRoute();
        IssuedLease b = _f.IssueRoute("anthropic", "anthropic.default");
        IssuedLease other = _f.IssueRoute(subject: SubjectId.ForAgent("other"));

        SubjectRevocation revocation = _f.Broker.RevokeSubject(BrokerFixture.Agent).Value;

        await Assert.That(revocation.RevokedLeases).IsEquivalentTo(new[] { a.Lease.Id, b.Lease.Id }.Order(StringComparer.Ordinal), CollectionOrdering.Matching);
        await Assert.That(revocation.CurrentEpoch).IsEqualTo(1);
        await AssertRefused(_f.Broker.Validate(a.Token, OpenAi), BrokerErrors.SubjectRevoked, ErrorKind.Unauthorized);
        await Assert.That(_f.Broker.GetLeaseStatus(LeaseId.Parse(b.Lease.Id).Value).Value.Active).IsFalse();
        await Assert.That(_f.Broker.Validate(other.Token, OpenAi).IsOk).IsTrue();
    }

    [Test]
    public async Task Lease_of_a_revoked_subject_stays_refused_after_a_restart()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.Flush();
        _f.Broker.RevokeSubject(BrokerFixture.Agent);

        CredentialBroker reopened = _f.Reopen();

        await AssertRefused(reopened.Validate(issued.Token, OpenAi), BrokerErrors.SubjectRevoked, ErrorKind.Unauthorized);
    }

    [Test]
    public async Task Revoked_subject_cannot_get_a_new_lease()
    {
        _f.Broker.RevokeSubject(BrokerFixture.Agent);

        var result = _f.Broker.IssueRouteLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "openai", "openai.default");

        await AssertRefused(result, BrokerErrors.SubjectRevoked, ErrorKind.Unauthorized);
    }

    [Test]
    public async Task Epoch_bump_makes_earlier_leases_stale_but_new_ones_valid()
    {
        IssuedLease before = _f.IssueRoute();

        await Assert.That(_f.Broker.BumpSubjectEpoch(BrokerFixture.Agent).Value).IsEqualTo(1);
        IssuedLease after = _f.IssueRoute();

        await AssertRefused(_f.Broker.Validate(before.Token, OpenAi), BrokerErrors.SubjectEpochStale, ErrorKind.Unauthorized);
        await Assert.That(_f.Broker.Validate(after.Token, OpenAi).Value.SubjectEpoch).IsEqualTo(1);
    }

    [Test]
    public async Task Lease_on_a_tombstoned_slot_is_slot_revoked()
    {
        IssuedLease issued = _f.IssueRoute();

        _f.Broker.RevokeSlot("openai.default");

        await AssertRefused(_f.Broker.Validate(issued.Token, OpenAi), BrokerErrors.SlotRevoked, ErrorKind.Forbidden);
    }

    [Test]
    public async Task Revoke_slot_revokes_every_lease_drawing_on_it()
    {
        IssuedLease route = _f.IssueRoute();
        IssuedLease mcp = _f.Broker.IssueMcpLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "linear", "openai.default", ["read"]).Value;
        IssuedLease connector = _f.Broker.IssueConnectorLease(
            BrokerFixture.Agent, CredentialScope.Unrestricted, "gh", ["GITHUB_TOKEN"], ["openai.default"]).Value;
        IssuedLease unrelated = _f.IssueRoute("anthropic", "anthropic.default");

        SlotRevocation revocation = _f.Broker.RevokeSlot("openai.default").Value;

        await Assert.That(revocation.RevokedLeases).IsEquivalentTo(new[] { route.Lease.Id, mcp.Lease.Id, connector.Lease.Id }.Order(StringComparer.Ordinal), CollectionOrdering.Matching);
        await Assert.That(_f.Broker.Validate(route.Token, OpenAi).IsOk).IsFalse();
        await Assert.That(_f.Broker.Validate(unrelated.Token, new RouteAudience("anthropic", "anthropic.default")).IsOk).IsTrue();
    }

    [Test]
    public async Task Tombstoned_slot_refuses_new_leases()
    {
        _f.Broker.RevokeSlot("openai.default");

        var result = _f.Broker.IssueRouteLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "openai", "openai.default");

        await AssertRefused(result, BrokerErrors.SlotRevoked, ErrorKind.Forbidden);
        await Assert.That(result.Error!.Message).IsEqualTo("auth slot `openai.default` has been revoked");
    }

    [Test]
    public async Task Slot_rewrite_clears_the_tombstone()
    {
        _f.Broker.RevokeSlot("openai.default");

        await Assert.That(_f.Broker.OnSlotRewritten("openai.default").Value).IsTrue();

        await Assert.That(_f.Broker.CheckSlot("openai.default")).IsNull();
        await Assert.That(_f.Broker.IssueRouteLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "openai", "openai.default").IsOk).IsTrue();
        await Assert.That(_f.Reopen().CheckSlot("openai.default")).IsNull();
    }

    [Test]
    public async Task Slot_rewrite_does_not_revive_leases_revoked_with_the_slot()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.RevokeSlot("openai.default");

        _f.Broker.OnSlotRewritten("openai.default");

        await AssertRefused(_f.Broker.Validate(issued.Token, OpenAi), BrokerErrors.LeaseRevoked, ErrorKind.Unauthorized);
    }

    [Test]
    public async Task Route_lease_presented_for_another_route_is_audience_mismatch()
    {
        IssuedLease issued = _f.IssueRoute();

        await AssertRefused(_f.Broker.Validate(issued.Token, new RouteAudience("openai", "other.slot")), BrokerErrors.AudienceMismatch, ErrorKind.Forbidden);
        await AssertRefused(_f.Broker.Validate(issued.Token, new McpServerAudience("linear", "openai.default", "x")), BrokerErrors.AudienceMismatch, ErrorKind.Forbidden);
    }

    [Test]
    public async Task Connector_lease_opens_only_its_own_env_keys()
    {
        IssuedLease issued = _f.Broker.IssueConnectorLease(
            BrokerFixture.Agent, CredentialScope.Unrestricted, "gh", ["GITHUB_TOKEN", "GH_HOST"], ["gh.token"]).Value;

        await Assert.That(_f.Broker.ValidateConnectorCredential(issued.Token, "gh", "GITHUB_TOKEN").IsOk).IsTrue();
        await AssertRefused(_f.Broker.ValidateConnectorCredential(issued.Token, "gh", "AWS_SECRET"), BrokerErrors.AudienceMismatch, ErrorKind.Forbidden);
        await AssertRefused(_f.Broker.ValidateConnectorCredential(issued.Token, "jira", "GITHUB_TOKEN"), BrokerErrors.AudienceMismatch, ErrorKind.Forbidden);
    }

    [Test]
    public async Task Mcp_lease_is_bound_to_its_scope_set_in_any_order()
    {
        IssuedLease issued = _f.Broker.IssueMcpLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "linear", "mcp.oauth.linear", ["write", "read", "read"]).Value;

        string sameSet = McpServerAudience.HashScopes(["read", "write"]);
        string wider = McpServerAudience.HashScopes(["read", "write", "admin"]);

        await Assert.That(_f.Broker.Validate(issued.Token, new McpServerAudience("linear", "mcp.oauth.linear", sameSet)).IsOk).IsTrue();
        await AssertRefused(_f.Broker.Validate(issued.Token, new McpServerAudience("linear", "mcp.oauth.linear", wider)), BrokerErrors.AudienceMismatch, ErrorKind.Forbidden);
    }

    [Test]
    public async Task The_empty_scope_set_has_one_id_however_it_is_given_and_differs_from_any_scope()
    {
        // An empty array takes a precomputed answer; a set that trims to nothing takes the long way.
        string empty = McpServerAudience.HashScopes([]);

        await Assert.That(McpServerAudience.HashScopes(new List<string> { " ", "" })).IsEqualTo(empty);
        await Assert.That(McpServerAudience.HashScopes(Enumerable.Empty<string>().Where(_ => true))).IsEqualTo(empty);
        await Assert.That(empty).IsEqualTo(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData([])));
        await Assert.That(McpServerAudience.HashScopes(["read"])).IsNotEqualTo(empty);
    }

    [Test]
    public async Task Issue_outside_the_scope_is_scope_denied()
    {
        var scope = new CredentialScope { RouteAllow = ["anthropic"] };

        var result = _f.Broker.IssueRouteLease(BrokerFixture.Agent, scope, "openai", "openai.default");

        await AssertRefused(result, BrokerErrors.ScopeDenied, ErrorKind.Forbidden);
    }

    [Test]
    public async Task Connector_lease_for_a_credential_denied_by_default_is_scope_denied()
    {
        var scope = new CredentialScope { ConnectorAllow = ["gh"] };

        var result = _f.Broker.IssueConnectorLease(BrokerFixture.Agent, scope, "gh", ["GITHUB_TOKEN"], []);

        await AssertRefused(result, BrokerErrors.ScopeDenied, ErrorKind.Forbidden);
    }

    [Test]
    public async Task Mcp_lease_for_a_denied_server_is_scope_denied()
    {
        var scope = new CredentialScope { McpServerDeny = ["linear"] };

        var result = _f.Broker.IssueMcpLease(BrokerFixture.Agent, scope, "linear", "mcp.oauth.linear", []);

        await AssertRefused(result, BrokerErrors.ScopeDenied, ErrorKind.Forbidden);
    }

    [Test]
    public async Task Bad_slot_id_is_refused_before_anything_is_issued()
    {
        var result = _f.Broker.IssueRouteLease(BrokerFixture.Agent, CredentialScope.Unrestricted, "openai", "../etc/passwd");

        await Assert.That(result.Error?.Code).IsEqualTo("invalid_slot_id");
        await Assert.That(_f.Broker.LeaseCount).IsEqualTo(0);
    }

    private static async Task AssertRefused<T>(Result<T> result, string code, ErrorKind kind)
    {
        await Assert.That(result.IsOk).IsFalse().Because($"expected {code}");
        await Assert.That(result.Error!.Code).IsEqualTo(code);
        await Assert.That(result.Error.Kind).IsEqualTo(kind);
    }

    public void Dispose() => _f.Dispose();
}
