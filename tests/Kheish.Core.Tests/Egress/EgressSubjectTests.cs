using Kheish.Core.Access;
using Kheish.Core.Broker;
using Kheish.Core.Egress;

namespace Kheish.Core.Tests.Egress;

public sealed class EgressSubjectTests
{
    [Theory]
    [InlineData("agent:coder", "agent:coder")]
    [InlineData("apikey:k1", "apikey:k1")]
    [InlineData("ci-bot", "principal:ci-bot")]
    [InlineData("anonymous", "principal:anonymous")]
    public void The_keys_principal_becomes_the_subject(string principal, string subject)
    {
        EgressSubject s = EgressSubject.Resolve(principal, null, null).Value;

        Assert.Equal(subject, s.Subject.Value);
        Assert.Null(s.Parent);
    }

    [Fact]
    public void A_principal_that_is_no_subject_id_is_refused()
    {
        Assert.Equal("invalid_principal", EgressSubject.Resolve("bad/principal", null, null).Error!.Code);
    }

    [Fact]
    public void Acting_for_a_session_intersects_the_key_scope_with_the_session_scope()
    {
        var keyScope = new ApiKeyScope(RouteAllow: ["openai", "anthropic"]);
        var session = new SessionRecord("s1", "session:s1", new CredentialScope { RouteAllow = ["openai", "google"] }, null, 0);

        EgressSubject s = EgressSubject.Resolve("agent:coder", keyScope, session).Value;

        Assert.Equal("session:s1", s.Subject.Value);
        Assert.Equal("agent:coder", s.Parent?.Value);
        Assert.True(s.Scope.AllowsRoute("openai"));
        Assert.False(s.Scope.AllowsRoute("anthropic"));
        Assert.False(s.Scope.AllowsRoute("google"));
    }

    [Fact]
    public void A_session_never_widens_a_key_that_denies_a_route()
    {
        var keyScope = new ApiKeyScope(RouteDeny: ["openai"]);
        var session = new SessionRecord("s1", "session:s1", CredentialScope.Unrestricted, null, 0);

        EgressSubject s = EgressSubject.Resolve("agent:coder", keyScope, session).Value;

        Assert.False(s.Scope.AllowsRoute("openai"));
    }

    [Fact]
    public void A_key_without_scope_is_unrestricted()
    {
        Assert.True(EgressSubject.ToCredentialScope(null).IsEmpty);
        Assert.True(EgressSubject.ToCredentialScope(new ApiKeyScope()).IsEmpty);
    }
}
