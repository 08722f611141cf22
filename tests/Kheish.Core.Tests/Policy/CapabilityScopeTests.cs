using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Policy;

namespace Kheish.Core.Tests.Policy;

public sealed class CapabilityScopeTests
{
    private static readonly string[] Names = ["s__a", "s__b", "s__ab", "t__a", "t__b", "u__x"];

    private static readonly string[] Patterns = ["*", "s__*", "*__a", "t__*", "s__a", "t__b", "*b", "u__x", "none"];

    private static CapabilityScope Scope(string[]? allow, string[]? deny = null) => new() { ToolAllow = allow, ToolDeny = deny };

    /// <summary>Scopes over a small alphabet of names and globs, so that matches and misses both occur often.</summary>
    private static Gen<CapabilityScope> Scopes()
    {
        Gen<string[]?> list = Gen.OneOf(
            Gen.Constant<string[]?>(null),
            Gen.Choose(1, 3).SelectMany(n => Gen.ArrayOf(Gen.Elements(Patterns), n)).Select(a => (string[]?)a));
        return list.SelectMany(allow => list.Select(deny => Scope(allow, deny)));
    }

    [Test]
    public async Task No_scope_allows_every_tool()
    {
        await Assert.That(CapabilityScope.Unrestricted.Allows("any__tool")).IsTrue();
        await Assert.That(Scope(null, null).IsUnrestricted).IsTrue();
    }

    [Test]
    public async Task Allow_globs_bound_what_is_visible_and_deny_wins_over_allow()
    {
        CapabilityScope s = Scope(["github__*", "everything__echo"], ["github__delete_*"]);
        await Assert.That(s.Allows("github__list_issues")).IsTrue();
        await Assert.That(s.Allows("everything__echo")).IsTrue();
        await Assert.That(s.Allows("github__delete_repo")).IsFalse();
        await Assert.That(s.Allows("everything__get-env")).IsFalse();
        await Assert.That(Scope(null, ["*"]).Allows("everything__echo")).IsFalse();
    }

    [Test]
    public async Task Two_disjoint_allow_lists_intersect_to_nothing_never_to_everything()
    {
        CapabilityScope both = CapabilityScope.Intersect(Scope(["a__*"]), Scope(["b__*"]));
        await Assert.That(both.Allows("a__x")).IsFalse();
        await Assert.That(both.Allows("b__x")).IsFalse();
        await Assert.That(both.Allows("c__x")).IsFalse();
    }

    [Test]
    public void The_intersection_allows_exactly_what_both_scopes_allow()
    {
        Prop.ForAll(Arb.From(Scopes()), Arb.From(Scopes()), (a, b) =>
        {
            CapabilityScope x = CapabilityScope.Intersect(a, b);
            CapabilityScope y = CapabilityScope.Intersect(b, a);
            return Names.All(n => x.Allows(n) == (a.Allows(n) && b.Allows(n)) && y.Allows(n) == x.Allows(n));
        }).QuickCheckThrowOnFailure();
    }

    [Test]
    public void A_child_never_widens_its_parent_at_any_depth()
    {
        Prop.ForAll(Arb.From(Scopes()), Arb.From(Scopes()), Arb.From(Scopes()), (root, child, grandchild) =>
        {
            var narrowed = CapabilityScope.Narrow(root, child);
            if (!narrowed.IsOk)
            {
                // Refused only for a literal name the parent does not allow.
                return child.ToolAllow!.Any(e => !e.Contains('*', StringComparison.Ordinal) && !root.Allows(e));
            }

            CapabilityScope mid = narrowed.Value;
            var deeper = CapabilityScope.Narrow(mid, grandchild);
            return Names.All(n => !mid.Allows(n) || (root.Allows(n) && child.Allows(n)))
                && (!deeper.IsOk || Names.All(n => !deeper.Value.Allows(n) || (mid.Allows(n) && root.Allows(n))));
        }).QuickCheckThrowOnFailure();
    }

    [Test]
    public async Task A_child_naming_a_tool_outside_its_parent_is_refused_naming_it()
    {
        var r = CapabilityScope.Narrow(Scope(["everything__echo"]), Scope(["everything__echo", "everything__get-env"]));
        await Assert.That(r.IsOk).IsFalse();
        await Assert.That(r.Error!.Code).IsEqualTo("capability_widens_parent");
        await Assert.That(r.Error.Message).Contains("`everything__get-env`");
        await Assert.That(r.Error.Message).DoesNotContain("`everything__echo`");
    }

    [Test]
    [Arguments("""{"tool_allow":[]}""", "capability_scope.tool_allow is empty, which would bound nothing; to allow no tool at all, give tool_deny = [\"*\"]")]
    [Arguments("""{"tool_deny":["ok__x","has space"]}""", "capability_scope.tool_deny[1] must be a gateway tool name <server>__<tool> or a `*` glob of them (1-256 printable ASCII characters, no spaces)")]
    [Arguments("""{"tool_allow":[""]}""", "capability_scope.tool_allow[0] must be a gateway tool name <server>__<tool> or a `*` glob of them (1-256 printable ASCII characters, no spaces)")]
    [Arguments("""{"tool_allow":["a__b"],"tool_allow_also":[["c"]]}""", "capability_scope.tool_allow_also is written by the daemon when scopes are intersected; give tool_allow and tool_deny only")]
    public async Task A_malformed_scope_is_refused_with_a_message_naming_the_field(string json, string expected)
    {
        var scope = System.Text.Json.JsonSerializer.Deserialize(
            "{\"capability_scope\":" + json + "}", Kheish.Core.Access.SecurityJsonContext.Default.ApiKeyScope)!;
        await Assert.That(scope.Validate()).IsEqualTo(expected);
    }

    [Test]
    public async Task An_unknown_field_in_a_key_capability_scope_is_refused()
    {
        await Assert.That(() => System.Text.Json.JsonSerializer.Deserialize(
            """{"capability_scope":{"tool_allows":["a"]}}""", Kheish.Core.Access.SecurityJsonContext.Default.ApiKeyScope)).Throws<System.Text.Json.JsonException>();
    }
}
