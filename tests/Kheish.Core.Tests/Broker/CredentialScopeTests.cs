using System.Text;
using Kheish.Core.Broker;

namespace Kheish.Core.Tests.Broker;

public sealed class CredentialScopeTests
{
    [Fact]
    public void Empty_scope_allows_everything()
    {
        var scope = CredentialScope.Unrestricted;

        Assert.True(scope.AllowsRoute("openai"));
        Assert.True(scope.AllowsConnector("github"));
        Assert.True(scope.AllowsConnectorCredential("github", "GITHUB_TOKEN"));
        Assert.True(scope.AllowsMcpServer("linear"));
    }

    [Fact]
    public void Normalize_trims_drops_empties_sorts_and_dedupes()
    {
        var scope = new CredentialScope { RouteAllow = [" b", "a", "", "b ", "  "] };

        Assert.Equal(["a", "b"], scope.Normalize().RouteAllow);
    }

    [Fact]
    public void Wildcard_collapses_a_list_to_a_single_star()
    {
        var scope = new CredentialScope { McpServerDeny = ["x", " * ", "y"] };

        Assert.Equal(["*"], scope.Normalize().McpServerDeny);
    }

    [Fact]
    public void Deny_wins_over_allow()
    {
        var scope = new CredentialScope { RouteAllow = ["*"], RouteDeny = ["anthropic"] };

        Assert.True(scope.AllowsRoute("openai"));
        Assert.False(scope.AllowsRoute("anthropic"));
    }

    [Fact]
    public void Allow_list_admits_only_its_entries()
    {
        var scope = new CredentialScope { RouteAllow = ["openai"] };

        Assert.True(scope.AllowsRoute("openai"));
        Assert.False(scope.AllowsRoute("anthropic"));
    }

    [Fact]
    public void Connector_credentials_are_denied_by_default_when_only_connectors_are_listed()
    {
        var scope = new CredentialScope { ConnectorAllow = ["github"] };

        Assert.True(scope.AllowsConnector("github"));
        Assert.False(scope.AllowsConnectorCredential("github", "GITHUB_TOKEN"));
    }

    [Fact]
    public void Connector_credential_needs_its_connector_allowed()
    {
        var scope = new CredentialScope { ConnectorDeny = ["github"], ConnectorCredentialAllow = ["github:GITHUB_TOKEN"] };

        Assert.False(scope.AllowsConnectorCredential("github", "GITHUB_TOKEN"));
    }

    [Fact]
    public void Listed_connector_credential_is_allowed()
    {
        var scope = new CredentialScope { ConnectorAllow = ["github"], ConnectorCredentialAllow = ["github:GITHUB_TOKEN"] };

        Assert.True(scope.AllowsConnectorCredential("github", "GITHUB_TOKEN"));
        Assert.False(scope.AllowsConnectorCredential("github", "OTHER"));
    }

    [Fact]
    public void Intersecting_disjoint_allow_lists_allows_nothing()
    {
        var a = new CredentialScope { RouteAllow = ["openai"] };
        var b = new CredentialScope { RouteAllow = ["anthropic"] };

        CredentialScope both = CredentialScope.Intersect(a, b);

        Assert.False(both.AllowsRoute("openai"));
        Assert.False(both.AllowsRoute("anthropic"));
        Assert.False(both.AllowsRoute("anything-else"));
        Assert.Equal(["*"], both.RouteDeny);
    }

    [Fact]
    public void Intersection_with_an_empty_or_star_side_yields_the_other()
    {
        var restricted = new CredentialScope { RouteAllow = ["openai"] };

        Assert.Equal(["openai"], CredentialScope.Intersect(restricted, CredentialScope.Unrestricted).RouteAllow);
        Assert.Equal(["openai"], CredentialScope.Intersect(new CredentialScope { RouteAllow = ["*"] }, restricted).RouteAllow);
    }

    [Fact]
    public void Intersection_unions_deny_lists()
    {
        var a = new CredentialScope { RouteDeny = ["x"] };
        var b = new CredentialScope { RouteDeny = ["y"] };

        Assert.Equal(["x", "y"], CredentialScope.Intersect(a, b).RouteDeny);
    }

    [Fact]
    public void Intersection_keeps_a_sides_credential_default_deny()
    {
        var parent = new CredentialScope { ConnectorAllow = ["github"] };
        var child = new CredentialScope { ConnectorCredentialAllow = ["github:GITHUB_TOKEN"] };

        CredentialScope both = CredentialScope.Intersect(parent, child);

        Assert.False(both.AllowsConnectorCredential("github", "GITHUB_TOKEN"));
    }

    [Fact]
    public void Narrow_rejects_a_child_entry_outside_the_parent()
    {
        var parent = new CredentialScope { RouteAllow = ["openai"] };
        var child = new CredentialScope { RouteAllow = ["openai", "anthropic"] };

        var result = CredentialScope.Narrow(parent, child);

        Assert.False(result.IsOk);
        Assert.Equal("scope_widens_parent", result.Error.Code);
        Assert.Contains("contains entries outside the parent scope", result.Error.Message);
        Assert.Contains("anthropic", result.Error.Message);
    }

    [Fact]
    public void Narrow_with_an_empty_child_inherits_the_parent()
    {
        var parent = new CredentialScope { RouteAllow = ["openai"], McpServerDeny = ["prod"] };

        CredentialScope child = CredentialScope.Narrow(parent, CredentialScope.Unrestricted).Value;

        Assert.Equal(parent.Normalize(), child);
    }

    [Fact]
    public void Narrow_accepts_a_subset_and_returns_it()
    {
        var parent = new CredentialScope { RouteAllow = ["a", "b"] };
        var child = new CredentialScope { RouteAllow = ["b"] };

        Assert.Equal(["b"], CredentialScope.Narrow(parent, child).Value.RouteAllow);
    }

    [Fact]
    public void Scope_json_is_snake_case_and_normalised()
    {
        byte[] json = Encoding.UTF8.GetBytes("""{"route_allow":["openai"," openai","anthropic"],"connector_credential_allow":["github:TOKEN"]}""");

        CredentialScope scope = CredentialScope.FromJson(json).Value;

        Assert.Equal(["anthropic", "openai"], scope.RouteAllow);
        Assert.Equal(["github:TOKEN"], scope.ConnectorCredentialAllow);
        Assert.Empty(scope.McpServerAllow);
    }

    [Fact]
    public void Scope_json_with_an_unknown_field_is_rejected()
    {
        var result = CredentialScope.FromJson("""{"route_alow":["openai"]}"""u8);

        Assert.False(result.IsOk);
        Assert.Equal("invalid_scope", result.Error.Code);
    }

    [Fact]
    public void Scope_json_with_a_malformed_credential_entry_is_rejected()
    {
        var result = CredentialScope.FromJson("""{"connector_credential_allow":["github"]}"""u8);

        Assert.False(result.IsOk);
        Assert.Contains("connector:ENV_KEY", result.Error.Message);
    }

    [Fact]
    public void Nothing_scope_round_trips_through_json_and_still_allows_nothing()
    {
        string json = System.Text.Json.JsonSerializer.Serialize(CredentialScope.Nothing, BrokerJsonContext.Default.CredentialScope);

        CredentialScope back = CredentialScope.FromJson(Encoding.UTF8.GetBytes(json)).Value;

        Assert.False(back.AllowsRoute("openai"));
        Assert.False(back.AllowsMcpServer("linear"));
        Assert.False(back.AllowsConnector("github"));
    }
}
