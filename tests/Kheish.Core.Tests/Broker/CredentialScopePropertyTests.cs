using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Broker;

namespace Kheish.Core.Tests.Broker;

/// <summary>Scope algebra over small alphabets, so collisions (and disjointness) are frequent.</summary>
public sealed class CredentialScopePropertyTests
{
    private static readonly string[] Names = ["a", "b", "c"];
    private static readonly string[] Keys = ["K", "L"];
    private static readonly string[] RawNames = ["a", "b", "c", "*", " a", "b ", "", "a"];
    private static readonly string[] RawCredentials = ["a:K", "a:L", "b:K", "c:L", "*", " a:K", ""];

    private static Gen<IReadOnlyList<string>> RawList(string[] alphabet) =>
        Gen.ListOf(Gen.Elements(alphabet), 3).Select(l => (IReadOnlyList<string>)l.ToArray());

    private static Gen<IReadOnlyList<string>> SometimesEmpty(string[] alphabet) =>
        Gen.OneOf(Gen.Constant((IReadOnlyList<string>)[]), RawList(alphabet), RawList(alphabet));

    private static readonly Gen<CredentialScope> ScopeGen =
        from ra in SometimesEmpty(RawNames)
        from rd in SometimesEmpty(RawNames)
        from ca in SometimesEmpty(RawNames)
        from cd in SometimesEmpty(RawNames)
        from ka in SometimesEmpty(RawCredentials)
        from kd in SometimesEmpty(RawCredentials)
        from ma in SometimesEmpty(RawNames)
        from md in SometimesEmpty(RawNames)
        select new CredentialScope
        {
            RouteAllow = ra, RouteDeny = rd, ConnectorAllow = ca, ConnectorDeny = cd,
            ConnectorCredentialAllow = ka, ConnectorCredentialDeny = kd, McpServerAllow = ma, McpServerDeny = md,
        };

    private static Arbitrary<CredentialScope> Scopes => ScopeGen.ToArbitrary();

    private static Config Many => Config.QuickThrowOnFailure.WithMaxTest(2000);

    /// <summary>Every decision a scope makes over the test alphabet, as "dimension:value" → allowed.</summary>
    private static IEnumerable<(string What, bool Allowed)> Decisions(CredentialScope s)
    {
        foreach (string n in Names.Append("zzz"))
        {
            yield return ("route:" + n, s.AllowsRoute(n));
            yield return ("connector:" + n, s.AllowsConnector(n));
            yield return ("mcp:" + n, s.AllowsMcpServer(n));
            foreach (string k in Keys)
            {
                yield return ($"credential:{n}:{k}", s.AllowsConnectorCredential(n, k));
            }
        }
    }

    [Test]
    public void Intersection_allows_only_what_both_sides_allow()
    {
        Check.One(Many, Prop.ForAll(Scopes, Scopes, (p, c) =>
        {
            var both = Decisions(CredentialScope.Intersect(p, c)).ToList();
            var left = Decisions(p.Normalize()).ToList();
            var right = Decisions(c.Normalize()).ToList();
            return both.Select((d, i) => !d.Allowed || (left[i].Allowed && right[i].Allowed)).All(ok => ok);
        }));
    }

    [Test]
    public void Narrowing_never_allows_more_than_the_parent()
    {
        Check.One(Many, Prop.ForAll(Scopes, Scopes, (p, c) =>
        {
            var narrowed = CredentialScope.Narrow(p, c);
            if (!narrowed.IsOk)
            {
                return narrowed.Error.Code == "scope_widens_parent";
            }

            var child = Decisions(narrowed.Value).ToList();
            var parent = Decisions(p.Normalize()).ToList();
            return child.Select((d, i) => !d.Allowed || parent[i].Allowed).All(ok => ok);
        }));
    }

    [Test]
    public void Normalisation_is_idempotent()
    {
        Check.One(Many, Prop.ForAll(Scopes, s => s.Normalize().Normalize().Equals(s.Normalize())));
    }

    [Test]
    public void Normalisation_keeps_every_decision_on_clean_values()
    {
        Check.One(Many, Prop.ForAll(Scopes, s =>
        {
            // Raw entries with padding only ever mean their trimmed form.
            var trimmed = s with
            {
                RouteAllow = s.RouteAllow.Select(e => e.Trim()).Where(e => e.Length > 0).ToArray(),
                RouteDeny = s.RouteDeny.Select(e => e.Trim()).Where(e => e.Length > 0).ToArray(),
                ConnectorAllow = s.ConnectorAllow.Select(e => e.Trim()).Where(e => e.Length > 0).ToArray(),
                ConnectorDeny = s.ConnectorDeny.Select(e => e.Trim()).Where(e => e.Length > 0).ToArray(),
                ConnectorCredentialAllow = s.ConnectorCredentialAllow.Select(e => e.Trim()).Where(e => e.Length > 0).ToArray(),
                ConnectorCredentialDeny = s.ConnectorCredentialDeny.Select(e => e.Trim()).Where(e => e.Length > 0).ToArray(),
                McpServerAllow = s.McpServerAllow.Select(e => e.Trim()).Where(e => e.Length > 0).ToArray(),
                McpServerDeny = s.McpServerDeny.Select(e => e.Trim()).Where(e => e.Length > 0).ToArray(),
            };
            return Decisions(trimmed).SequenceEqual(Decisions(s.Normalize()));
        }));
    }

    [Test]
    public void Deny_always_wins()
    {
        var withDeny =
            from s in ScopeGen
            from v in Gen.Elements(Names)
            select (Scope: s with { RouteDeny = [.. s.RouteDeny, v], McpServerDeny = [.. s.McpServerDeny, v], ConnectorDeny = [.. s.ConnectorDeny, v] }, Value: v);

        Check.One(Many, Prop.ForAll(withDeny.ToArbitrary(), x =>
            !x.Scope.AllowsRoute(x.Value) && !x.Scope.AllowsMcpServer(x.Value) && !x.Scope.AllowsConnector(x.Value)
            && Keys.All(k => !x.Scope.AllowsConnectorCredential(x.Value, k))));
    }

    [Test]
    public void Disjoint_non_empty_allow_lists_intersect_to_nothing()
    {
        var disjoint =
            from left in Gen.NonEmptyListOf(Gen.Elements("a", "b"))
            from right in Gen.NonEmptyListOf(Gen.Elements("c", "d"))
            select (Left: left.ToArray(), Right: right.ToArray());

        Check.One(Many, Prop.ForAll(disjoint.ToArbitrary(), x =>
        {
            CredentialScope both = CredentialScope.Intersect(
                new CredentialScope { RouteAllow = x.Left, McpServerAllow = x.Left },
                new CredentialScope { RouteAllow = x.Right, McpServerAllow = x.Right });
            return new[] { "a", "b", "c", "d", "e" }.All(v => !both.AllowsRoute(v) && !both.AllowsMcpServer(v));
        }));
    }
}
