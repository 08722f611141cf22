using Kheish.Core.Access;
using Kheish.Core.Broker;
using Kheish.Core.Egress;

namespace Kheish.Core.Tests.Egress;

public sealed class EgressSubjectTests
{
    [Test]
    [Arguments("agent:coder", "agent:coder")]
    [Arguments("apikey:k1", "apikey:k1")]
    [Arguments("ci-bot", "principal:ci-bot")]
    [Arguments("anonymous", "principal:anonymous")]
    public async Task The_keys_principal_becomes_the_subject(string principal, string subject)
    {
        EgressSubject s = EgressSubject.Resolve(principal, null, null).Value;

        await Assert.That(s.Subject.Value).IsEqualTo(subject);
        await Assert.That(s.Parent).IsNull();
    }

    [Test]
    public async Task A_principal_that_is_no_subject_id_is_refused()
    {
        await Assert.That(EgressSubject.Resolve("bad/principal", null, null).Error!.Code).IsEqualTo("invalid_principal");
    }

    [Test]
    public async Task Acting_for_a_session_intersects_the_key_scope_with_the_session_scope()
    {
        var keyScope = new ApiKeyScope(RouteAllow: ["openai", "anthropic"]);
        var session = new SessionRecord("s1", "session:s1", new CredentialScope { RouteAllow = ["openai", "google"] }, null, 0);

        EgressSubject s = EgressSubject.Resolve("agent:coder", keyScope, session).Value;

        await Assert.That(s.Subject.Value).IsEqualTo("session:s1");
        await Assert.That(s.Parent?.Value).IsEqualTo("agent:coder");
        await Assert.That(s.Scope.AllowsRoute("openai")).IsTrue();
        await Assert.That(s.Scope.AllowsRoute("anthropic")).IsFalse();
        await Assert.That(s.Scope.AllowsRoute("google")).IsFalse();
    }

    [Test]
    public async Task A_session_never_widens_a_key_that_denies_a_route()
    {
        var keyScope = new ApiKeyScope(RouteDeny: ["openai"]);
        var session = new SessionRecord("s1", "session:s1", CredentialScope.Unrestricted, null, 0);

        EgressSubject s = EgressSubject.Resolve("agent:coder", keyScope, session).Value;

        await Assert.That(s.Scope.AllowsRoute("openai")).IsFalse();
    }

    [Test]
    public async Task A_key_without_scope_is_unrestricted()
    {
        await Assert.That(EgressSubject.ToCredentialScope(null).IsEmpty).IsTrue();
        await Assert.That(EgressSubject.ToCredentialScope(new ApiKeyScope()).IsEmpty).IsTrue();
    }
}
