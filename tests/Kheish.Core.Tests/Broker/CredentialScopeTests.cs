using System.Text;
using Kheish.Core.Broker;

namespace Kheish.Core.Tests.Broker;

public sealed class CredentialScopeTests
{
    [Test]
    public async Task Empty_scope_allows_everything()
    {
        var scope = CredentialScope.Unrestricted;

        await Assert.That(scope.AllowsRoute("openai")).IsTrue();
        await Assert.That(scope.AllowsConnector("github")).IsTrue();
        await Assert.That(scope.AllowsConnectorCredential("github", "GITHUB_TOKEN")).IsTrue();
        await Assert.That(scope.AllowsMcpServer("linear")).IsTrue();
    }

    [Test]
    public async Task Normalize_trims_drops_empties_sorts_and_dedupes()
    {
        var scope = new CredentialScope { RouteAllow = [" b", "a", "", "b ", "  "] };

        await Assert.That(scope.Normalize().RouteAllow).IsEquivalentTo(["a", "b"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Wildcard_collapses_a_list_to_a_single_star()
    {
        var scope = new CredentialScope { McpServerDeny = ["x", " * ", "y"] };

        await Assert.That(scope.Normalize().McpServerDeny).IsEquivalentTo(["*"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Deny_wins_over_allow()
    {
        var scope = new CredentialScope { RouteAllow = ["*"], RouteDeny = ["anthropic"] };

        await Assert.That(scope.AllowsRoute("openai")).IsTrue();
        await Assert.That(scope.AllowsRoute("anthropic")).IsFalse();
    }

    [Test]
    public async Task Allow_list_admits_only_its_entries()
    {
        var scope = new CredentialScope { RouteAllow = ["openai"] };

        await Assert.That(scope.AllowsRoute("openai")).IsTrue();
        await Assert.That(scope.AllowsRoute("anthropic")).IsFalse();
    }

    [Test]
    public async Task Connector_credentials_are_denied_by_default_when_only_connectors_are_listed()
    {
        var scope = new CredentialScope { ConnectorAllow = ["github"] };

        await Assert.That(scope.AllowsConnector("github")).IsTrue();
        await Assert.That(scope.AllowsConnectorCredential("github", "GITHUB_TOKEN")).IsFalse();
    }

    [Test]
    public async Task Connector_credential_needs_its_connector_allowed()
    {
        var scope = new CredentialScope { ConnectorDeny = ["github"], ConnectorCredentialAllow = ["github:GITHUB_TOKEN"] };

        await Assert.That(scope.AllowsConnectorCredential("github", "GITHUB_TOKEN")).IsFalse();
    }

    [Test]
    public async Task Listed_connector_credential_is_allowed()
    {
        var scope = new CredentialScope { ConnectorAllow = ["github"], ConnectorCredentialAllow = ["github:GITHUB_TOKEN"] };

        await Assert.That(scope.AllowsConnectorCredential("github", "GITHUB_TOKEN")).IsTrue();
        await Assert.That(scope.AllowsConnectorCredential("github", "OTHER")).IsFalse();
    }

    [Test]
    public async Task Intersecting_disjoint_allow_lists_allows_nothing()
    {
        var a = new CredentialScope { RouteAllow = ["openai"] };
        var b = new CredentialScope { RouteAllow = ["anthropic"] };

        CredentialScope both = CredentialScope.Intersect(a, b);

        await Assert.That(both.AllowsRoute("openai")).IsFalse();
        await Assert.That(both.AllowsRoute("anthropic")).IsFalse();
        await Assert.That(both.AllowsRoute("anything-else")).IsFalse();
        await Assert.That(both.RouteDeny).IsEquivalentTo(["*"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Intersection_with_an_empty_or_star_side_yields_the_other()
    {
        var restricted = new CredentialScope { RouteAllow = ["openai"] };

        await Assert.That(CredentialScope.Intersect(restricted, CredentialScope.Unrestricted).RouteAllow).IsEquivalentTo(["openai"], CollectionOrdering.Matching);
        await Assert.That(CredentialScope.Intersect(new CredentialScope { RouteAllow = ["*"] }, restricted).RouteAllow).IsEquivalentTo(["openai"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Intersection_unions_deny_lists()
    {
        var a = new CredentialScope { RouteDeny = ["x"] };
        var b = new CredentialScope { RouteDeny = ["y"] };

        await Assert.That(CredentialScope.Intersect(a, b).RouteDeny).IsEquivalentTo(["x", "y"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Intersection_keeps_a_sides_credential_default_deny()
    {
        var parent = new CredentialScope { ConnectorAllow = ["github"] };
        var child = new CredentialScope { ConnectorCredentialAllow = ["github:GITHUB_TOKEN"] };

        CredentialScope both = CredentialScope.Intersect(parent, child);

        await Assert.That(both.AllowsConnectorCredential("github", "GITHUB_TOKEN")).IsFalse();
    }

    [Test]
    public async Task Narrow_rejects_a_child_entry_outside_the_parent()
    {
        var parent = new CredentialScope { RouteAllow = ["openai"] };
        var child = new CredentialScope { RouteAllow = ["openai", "anthropic"] };

        var result = CredentialScope.Narrow(parent, child);

        await Assert.That(result.IsOk).IsFalse();
        await Assert.That(result.Error!.Code).IsEqualTo("scope_widens_parent");
        await Assert.That(result.Error.Message).Contains("contains entries outside the parent scope");
        await Assert.That(result.Error.Message).Contains("anthropic");
    }

    [Test]
    public async Task Narrow_with_an_empty_child_inherits_the_parent()
    {
        var parent = new CredentialScope { RouteAllow = ["openai"], McpServerDeny = ["prod"] };

        CredentialScope child = CredentialScope.Narrow(parent, CredentialScope.Unrestricted).Value;

        await Assert.That(child).IsEqualTo(parent.Normalize());
    }

    [Test]
    public async Task Narrow_accepts_a_subset_and_returns_it()
    {
        var parent = new CredentialScope { RouteAllow = ["a", "b"] };
        var child = new CredentialScope { RouteAllow = ["b"] };

        await Assert.That(CredentialScope.Narrow(parent, child).Value.RouteAllow).IsEquivalentTo(["b"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Scope_json_is_snake_case_and_normalised()
    {
        byte[] json = Encoding.UTF8.GetBytes("""{"route_allow":["openai"," openai","anthropic"],"connector_credential_allow":["github:TOKEN"]}""");

        CredentialScope scope = CredentialScope.FromJson(json).Value;

        await Assert.That(scope.RouteAllow).IsEquivalentTo(["anthropic", "openai"], CollectionOrdering.Matching);
        await Assert.That(scope.ConnectorCredentialAllow).IsEquivalentTo(["github:TOKEN"], CollectionOrdering.Matching);
        await Assert.That(scope.McpServerAllow).IsEmpty();
    }

    [Test]
    public async Task Scope_json_with_an_unknown_field_is_rejected()
    {
        var result = CredentialScope.FromJson("""{"route_alow":["openai"]}"""u8);

        await Assert.That(result.IsOk).IsFalse();
        await Assert.That(result.Error!.Code).IsEqualTo("invalid_scope");
    }

    [Test]
    public async Task Scope_json_with_a_malformed_credential_entry_is_rejected()
    {
        var result = CredentialScope.FromJson("""{"connector_credential_allow":["github"]}"""u8);

        await Assert.That(result.IsOk).IsFalse();
        await Assert.That(result.Error!.Message).Contains("connector:ENV_KEY");
    }

    [Test]
    public async Task Nothing_scope_round_trips_through_json_and_still_allows_nothing()
    {
        string json = System.Text.Json.JsonSerializer.Serialize(CredentialScope.Nothing, BrokerJsonContext.Default.CredentialScope);

        CredentialScope back = CredentialScope.FromJson(Encoding.UTF8.GetBytes(json)).Value;

        await Assert.That(back.AllowsRoute("openai")).IsFalse();
        await Assert.That(back.AllowsMcpServer("linear")).IsFalse();
        await Assert.That(back.AllowsConnector("github")).IsFalse();
    }
}
