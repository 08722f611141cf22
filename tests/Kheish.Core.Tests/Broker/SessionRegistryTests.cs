using Kheish.Core.Broker;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Broker;

public sealed class SessionRegistryTests : IDisposable
{
    private readonly BrokerFixture _f = new();
    private readonly string _path;
    private readonly SessionRegistry _sessions;

    public SessionRegistryTests()
    {
        _path = Path.Combine(_f.Directory, "auth", SessionRegistry.FileName);
        _sessions = Open();
    }

    [Test]
    public async Task Created_session_is_a_session_subject_with_its_normalised_scope()
    {
        SessionRecord s = _sessions.Create("run-1", new CredentialScope { RouteAllow = ["openai ", "openai"] }, null).Value;

        await Assert.That(s.SubjectId).IsEqualTo("session:run-1");
        await Assert.That(s.Scope.RouteAllow).IsEquivalentTo(["openai"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Session_without_an_id_gets_a_random_one()
    {
        SessionRecord a = _sessions.Create(null, CredentialScope.Unrestricted, null).Value;
        SessionRecord b = _sessions.Create(null, CredentialScope.Unrestricted, null).Value;

        await Assert.That(a.SessionId).Matches("^ses-[0-9a-f]{32}$");
        await Assert.That(b.SessionId).IsNotEqualTo(a.SessionId);
    }

    [Test]
    public async Task Child_scope_is_intersected_with_the_parent()
    {
        _sessions.Create("parent", new CredentialScope { RouteAllow = ["openai", "anthropic"], McpServerDeny = ["prod"] }, null);

        SessionRecord child = _sessions.Create("child", new CredentialScope { RouteAllow = ["openai"] }, "parent").Value;

        await Assert.That(child.Scope.RouteAllow).IsEquivalentTo(["openai"], CollectionOrdering.Matching);
        await Assert.That(child.Scope.McpServerDeny).IsEquivalentTo(["prod"], CollectionOrdering.Matching);
        await Assert.That(child.ParentSessionId).IsEqualTo("parent");
    }

    [Test]
    public async Task Child_asking_for_more_than_the_parent_is_rejected()
    {
        _sessions.Create("parent", new CredentialScope { RouteAllow = ["openai"] }, null);

        var result = _sessions.Create("child", new CredentialScope { RouteAllow = ["anthropic"] }, "parent");

        await Assert.That(result.Error?.Code).IsEqualTo("scope_widens_parent");
        await Assert.That(_sessions.Get("child")).IsNull();
    }

    [Test]
    public async Task Child_with_an_empty_scope_inherits_the_parent_restrictions()
    {
        _sessions.Create("parent", new CredentialScope { RouteAllow = ["openai"] }, null);

        SessionRecord child = _sessions.Create("child", CredentialScope.Unrestricted, "parent").Value;

        await Assert.That(child.Scope.AllowsRoute("anthropic")).IsFalse();
    }

    [Test]
    public async Task Missing_parent_is_not_found()
    {
        var result = _sessions.Create("child", CredentialScope.Unrestricted, "nope");

        await Assert.That(result.Error?.Kind).IsEqualTo(ErrorKind.NotFound);
    }

    [Test]
    public async Task Revoked_parent_cannot_get_children()
    {
        _sessions.Create("parent", CredentialScope.Unrestricted, null);
        _f.Broker.RevokeSubject(SubjectId.ForSession("parent"));

        var result = _sessions.Create("child", CredentialScope.Unrestricted, "parent");

        await Assert.That(result.Error?.Code).IsEqualTo(BrokerErrors.SubjectRevoked);
    }

    [Test]
    public async Task Duplicate_session_id_is_a_conflict()
    {
        _sessions.Create("s", CredentialScope.Unrestricted, null);

        await Assert.That(_sessions.Create("s", CredentialScope.Unrestricted, null).Error?.Kind).IsEqualTo(ErrorKind.Conflict);
    }

    [Test]
    public async Task Bad_session_id_is_refused()
    {
        await Assert.That(_sessions.Create("../x", CredentialScope.Unrestricted, null).Error?.Code).IsEqualTo("invalid_session_id");
    }

    [Test]
    public async Task Sessions_survive_a_restart()
    {
        _sessions.Create("parent", new CredentialScope { RouteAllow = ["openai"] }, null);
        _sessions.Create("child", CredentialScope.Unrestricted, "parent");

        SessionRegistry reopened = Open();

        await Assert.That(reopened.Get("child")!.Scope.RouteAllow).IsEquivalentTo(["openai"], CollectionOrdering.Matching);
        await Assert.That(reopened.WithDescendants("parent").Order(StringComparer.Ordinal)).IsEquivalentTo(["child", "parent"], CollectionOrdering.Matching);
        await Assert.That(File.GetUnixFileMode(_path)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    [Test]
    public async Task A_child_capability_scope_is_intersected_with_its_parent_and_survives_a_reopen()
    {
        var parentScope = new Kheish.Core.Policy.CapabilityScope { ToolAllow = ["fs__read_*", "git__log"] };
        _sessions.Create("parent", CredentialScope.Unrestricted, null, parentScope);
        SessionRecord child = _sessions.Create("child", CredentialScope.Unrestricted, "parent", new Kheish.Core.Policy.CapabilityScope { ToolAllow = ["fs__*"], ToolDeny = ["fs__read_secret"] }).Value;
        SessionRecord inherited = _sessions.Create("quiet", CredentialScope.Unrestricted, "parent").Value;

        SessionRecord reopened = Open().Get("child")!;
        foreach (SessionRecord s in new[] { child, reopened })
        {
            await Assert.That(s.CapabilityScope!.Allows("fs__read_file")).IsTrue();
            await Assert.That(s.CapabilityScope.Allows("fs__write_file")).IsFalse();
            await Assert.That(s.CapabilityScope.Allows("fs__read_secret")).IsFalse();
            await Assert.That(s.CapabilityScope.Allows("git__log")).IsFalse();
        }

        await Assert.That(inherited.CapabilityScope!.Allows("git__log")).IsTrue();
        await Assert.That(inherited.CapabilityScope.Allows("git__push")).IsFalse();
    }

    [Test]
    public async Task A_child_capability_scope_naming_a_tool_outside_its_parent_is_refused_and_not_created()
    {
        _sessions.Create("parent", CredentialScope.Unrestricted, null, new Kheish.Core.Policy.CapabilityScope { ToolAllow = ["git__log"] });
        var result = _sessions.Create("child", CredentialScope.Unrestricted, "parent", new Kheish.Core.Policy.CapabilityScope { ToolAllow = ["git__push"] });
        await Assert.That(result.Error!.Code).IsEqualTo("capability_widens_parent");
        await Assert.That(_sessions.Get("child")).IsNull();
        var empty = _sessions.Create("other", CredentialScope.Unrestricted, null, new Kheish.Core.Policy.CapabilityScope { ToolAllow = [] });
        await Assert.That(empty.Error!.Code).IsEqualTo("invalid_capability_scope");
    }

    private SessionRegistry Open() => SessionRegistry.Open(_path, PlainStateFileCodec.Instance, _f.Clock, _f.Broker).Value;

    public void Dispose() => _f.Dispose();
}
