using Kheish.Core.Broker;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Broker;

public sealed class SessionRegistryTests : IDisposable
{
    private readonly BrokerFixture _f = new();
    private readonly string _path;
    private SessionRegistry _sessions;

    public SessionRegistryTests()
    {
        _path = Path.Combine(_f.Directory, "auth", SessionRegistry.FileName);
        _sessions = Open();
    }

    [Fact]
    public void Created_session_is_a_session_subject_with_its_normalised_scope()
    {
        SessionRecord s = _sessions.Create("run-1", new CredentialScope { RouteAllow = ["openai ", "openai"] }, null).Value;

        Assert.Equal("session:run-1", s.SubjectId);
        Assert.Equal(["openai"], s.Scope.RouteAllow);
    }

    [Fact]
    public void Session_without_an_id_gets_a_random_one()
    {
        SessionRecord a = _sessions.Create(null, CredentialScope.Unrestricted, null).Value;
        SessionRecord b = _sessions.Create(null, CredentialScope.Unrestricted, null).Value;

        Assert.Matches("^ses-[0-9a-f]{32}$", a.SessionId);
        Assert.NotEqual(a.SessionId, b.SessionId);
    }

    [Fact]
    public void Child_scope_is_intersected_with_the_parent()
    {
        _sessions.Create("parent", new CredentialScope { RouteAllow = ["openai", "anthropic"], McpServerDeny = ["prod"] }, null);

        SessionRecord child = _sessions.Create("child", new CredentialScope { RouteAllow = ["openai"] }, "parent").Value;

        Assert.Equal(["openai"], child.Scope.RouteAllow);
        Assert.Equal(["prod"], child.Scope.McpServerDeny);
        Assert.Equal("parent", child.ParentSessionId);
    }

    [Fact]
    public void Child_asking_for_more_than_the_parent_is_rejected()
    {
        _sessions.Create("parent", new CredentialScope { RouteAllow = ["openai"] }, null);

        var result = _sessions.Create("child", new CredentialScope { RouteAllow = ["anthropic"] }, "parent");

        Assert.Equal("scope_widens_parent", result.Error?.Code);
        Assert.Null(_sessions.Get("child"));
    }

    [Fact]
    public void Child_with_an_empty_scope_inherits_the_parent_restrictions()
    {
        _sessions.Create("parent", new CredentialScope { RouteAllow = ["openai"] }, null);

        SessionRecord child = _sessions.Create("child", CredentialScope.Unrestricted, "parent").Value;

        Assert.False(child.Scope.AllowsRoute("anthropic"));
    }

    [Fact]
    public void Missing_parent_is_not_found()
    {
        var result = _sessions.Create("child", CredentialScope.Unrestricted, "nope");

        Assert.Equal(ErrorKind.NotFound, result.Error?.Kind);
    }

    [Fact]
    public void Revoked_parent_cannot_get_children()
    {
        _sessions.Create("parent", CredentialScope.Unrestricted, null);
        _f.Broker.RevokeSubject(SubjectId.ForSession("parent"));

        var result = _sessions.Create("child", CredentialScope.Unrestricted, "parent");

        Assert.Equal(BrokerErrors.SubjectRevoked, result.Error?.Code);
    }

    [Fact]
    public void Duplicate_session_id_is_a_conflict()
    {
        _sessions.Create("s", CredentialScope.Unrestricted, null);

        Assert.Equal(ErrorKind.Conflict, _sessions.Create("s", CredentialScope.Unrestricted, null).Error?.Kind);
    }

    [Fact]
    public void Bad_session_id_is_refused()
    {
        Assert.Equal("invalid_session_id", _sessions.Create("../x", CredentialScope.Unrestricted, null).Error?.Code);
    }

    [Fact]
    public void Sessions_survive_a_restart()
    {
        _sessions.Create("parent", new CredentialScope { RouteAllow = ["openai"] }, null);
        _sessions.Create("child", CredentialScope.Unrestricted, "parent");

        _sessions = Open();

        Assert.Equal(["openai"], _sessions.Get("child")!.Scope.RouteAllow);
        Assert.Equal(["child", "parent"], _sessions.WithDescendants("parent").Order(StringComparer.Ordinal));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_path));
    }

    private SessionRegistry Open() => SessionRegistry.Open(_path, PlainStateFileCodec.Instance, _f.Clock, _f.Broker).Value;

    public void Dispose() => _f.Dispose();
}
