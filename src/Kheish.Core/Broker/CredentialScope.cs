using System.Text.Json;
using System.Text.Json.Serialization;
using Kheish.Core.Errors;
using Kheish.Core.Text;

namespace Kheish.Core.Broker;

/// <summary>
/// What a subject may reach (Kheish reference §3). Each dimension has an allow and a deny
/// list; an entry is <c>*</c> or an exact name. Allowed = (allow empty or matches) and deny
/// does not match: deny wins, and an empty scope allows everything.
/// <para>
/// "Nothing allowed" in a dimension is written as a deny list of <c>["*"]</c>, never as an
/// empty allow list (which means "everything"). <see cref="Intersect"/> produces it when two
/// restrictive allow lists share no entry, so narrowing can never widen.
/// </para>
/// Connector-credential entries are <c>connector:ENV_KEY</c>. A credential also needs its
/// connector allowed, and when both credential lists are empty while a connector list is
/// not, credentials are denied by default (a scope that names connectors must name their
/// credentials too).
/// </summary>
internal sealed record CredentialScope
{
    public const string Wildcard = "*";
    public const int MaxEntries = 1024;
    public const int MaxEntryLength = 256;

    private static string[] Everything => [Wildcard];

    public IReadOnlyList<string> RouteAllow { get; init; } = [];
    public IReadOnlyList<string> RouteDeny { get; init; } = [];
    public IReadOnlyList<string> ConnectorAllow { get; init; } = [];
    public IReadOnlyList<string> ConnectorDeny { get; init; } = [];
    public IReadOnlyList<string> ConnectorCredentialAllow { get; init; } = [];
    public IReadOnlyList<string> ConnectorCredentialDeny { get; init; } = [];
    public IReadOnlyList<string> McpServerAllow { get; init; } = [];
    public IReadOnlyList<string> McpServerDeny { get; init; } = [];

    /// <summary>The empty scope: allows everything.</summary>
    public static CredentialScope Unrestricted { get; } = new();

    /// <summary>A scope that allows nothing in any dimension.</summary>
    public static CredentialScope Nothing { get; } = new()
    {
        RouteDeny = Everything,
        ConnectorDeny = Everything,
        ConnectorCredentialDeny = Everything,
        McpServerDeny = Everything,
    };

    [JsonIgnore]
    public bool IsEmpty =>
        Count(RouteAllow) + Count(RouteDeny) + Count(ConnectorAllow) + Count(ConnectorDeny)
        + Count(ConnectorCredentialAllow) + Count(ConnectorCredentialDeny) + Count(McpServerAllow) + Count(McpServerDeny) == 0;

    /// <summary>Trim, drop empty entries, sort, dedupe; a list holding <c>*</c> becomes <c>["*"]</c>.</summary>
    public CredentialScope Normalize() => new()
    {
        RouteAllow = NormalizeList(RouteAllow),
        RouteDeny = NormalizeList(RouteDeny),
        ConnectorAllow = NormalizeList(ConnectorAllow),
        ConnectorDeny = NormalizeList(ConnectorDeny),
        ConnectorCredentialAllow = NormalizeList(ConnectorCredentialAllow),
        ConnectorCredentialDeny = NormalizeList(ConnectorCredentialDeny),
        McpServerAllow = NormalizeList(McpServerAllow),
        McpServerDeny = NormalizeList(McpServerDeny),
    };

    public bool AllowsRoute(string routeId) => Allowed(RouteAllow, RouteDeny, routeId);

    public bool AllowsConnector(string connector) => Allowed(ConnectorAllow, ConnectorDeny, connector);

    public bool AllowsMcpServer(string server) => Allowed(McpServerAllow, McpServerDeny, server);

    public bool AllowsConnectorCredential(string connector, string envKey) =>
        AllowsConnector(connector)
        && !CredentialsDeniedByDefault
        && Allowed(ConnectorCredentialAllow, ConnectorCredentialDeny, connector + ":" + envKey);

    /// <summary>The default-deny rule: the connector lists restrict, the credential lists say nothing.</summary>
    [JsonIgnore]
    public bool CredentialsDeniedByDefault =>
        Count(ConnectorCredentialAllow) == 0 && Count(ConnectorCredentialDeny) == 0
        && (Count(ConnectorAllow) > 0 || Count(ConnectorDeny) > 0);

    /// <summary>
    /// The scope allowing exactly what both allow (symmetric, never fails). Allow lists are
    /// intersected, where "empty or <c>*</c>" on one side yields the other; two restrictive
    /// allow lists with no common entry yield "nothing allowed" (deny <c>*</c>). Deny lists
    /// are unioned.
    /// </summary>
    public static CredentialScope Intersect(CredentialScope a, CredentialScope b)
    {
        CredentialScope x = a.Normalize().WithDefaultDenyMaterialized();
        CredentialScope y = b.Normalize().WithDefaultDenyMaterialized();
        var (routeAllow, routeDeny) = IntersectDimension(x.RouteAllow, x.RouteDeny, y.RouteAllow, y.RouteDeny);
        var (connectorAllow, connectorDeny) = IntersectDimension(x.ConnectorAllow, x.ConnectorDeny, y.ConnectorAllow, y.ConnectorDeny);
        var (credentialAllow, credentialDeny) = IntersectDimension(
            x.ConnectorCredentialAllow, x.ConnectorCredentialDeny, y.ConnectorCredentialAllow, y.ConnectorCredentialDeny);
        var (mcpAllow, mcpDeny) = IntersectDimension(x.McpServerAllow, x.McpServerDeny, y.McpServerAllow, y.McpServerDeny);
        return new CredentialScope
        {
            RouteAllow = routeAllow,
            RouteDeny = routeDeny,
            ConnectorAllow = connectorAllow,
            ConnectorDeny = connectorDeny,
            ConnectorCredentialAllow = credentialAllow,
            ConnectorCredentialDeny = credentialDeny,
            McpServerAllow = mcpAllow,
            McpServerDeny = mcpDeny,
        };
    }

    /// <summary>
    /// A child scope under <paramref name="parent"/>: every concrete entry of the child's
    /// allow lists must be allowed by the parent, else <c>scope_widens_parent</c>; the result
    /// is the intersection, so the child never reaches more than its parent.
    /// </summary>
    public static Result<CredentialScope> Narrow(CredentialScope parent, CredentialScope child)
    {
        CredentialScope p = parent.Normalize();
        CredentialScope c = child.Normalize();
        var outside = new List<string>();
        Collect("route_allow", c.RouteAllow, p.AllowsRoute, outside);
        Collect("connector_allow", c.ConnectorAllow, p.AllowsConnector, outside);
        Collect("connector_credential_allow", c.ConnectorCredentialAllow, e => AllowsCredentialEntry(p, e), outside);
        Collect("mcp_server_allow", c.McpServerAllow, p.AllowsMcpServer, outside);
        if (outside.Count > 0)
        {
            return KheishError.BadRequest(
                "scope_widens_parent",
                $"the credential scope contains entries outside the parent scope: {string.Join(", ", outside)}");
        }

        return Intersect(p, c);
    }

    /// <summary>Parses a scope document (snake_case, unknown fields rejected), validates and normalises it.</summary>
    public static Result<CredentialScope> FromJson(ReadOnlySpan<byte> json)
    {
        CredentialScope? scope;
        try
        {
            scope = JsonSerializer.Deserialize(json, BrokerJsonContext.Default.CredentialScope);
        }
        catch (JsonException ex)
        {
            string where = ex.LineNumber is long line ? $" (line {line + 1}, byte {ex.BytePositionInLine + 1})" : string.Empty;
            return KheishError.BadRequest("invalid_scope", $"the credential scope is not valid JSON or has unknown fields{where}");
        }

        if (scope is null)
        {
            return KheishError.BadRequest("invalid_scope", "the credential scope must be a JSON object");
        }

        return scope.Validated();
    }

    /// <summary>Checks entry shapes and sizes, and returns the normalised scope.</summary>
    public Result<CredentialScope> Validated()
    {
        CredentialScope n = Normalize();
        (string Name, IReadOnlyList<string> List)[] lists =
        [
            ("route_allow", n.RouteAllow), ("route_deny", n.RouteDeny),
            ("connector_allow", n.ConnectorAllow), ("connector_deny", n.ConnectorDeny),
            ("connector_credential_allow", n.ConnectorCredentialAllow), ("connector_credential_deny", n.ConnectorCredentialDeny),
            ("mcp_server_allow", n.McpServerAllow), ("mcp_server_deny", n.McpServerDeny),
        ];
        foreach (var (name, list) in lists)
        {
            if (list.Count > MaxEntries)
            {
                return KheishError.BadRequest("invalid_scope", $"credential scope {name} has more than {MaxEntries} entries");
            }

            bool credential = name.StartsWith("connector_credential", StringComparison.Ordinal);
            foreach (string entry in list)
            {
                if (entry.Length > MaxEntryLength || ControlCharacters.In(entry))
                {
                    return KheishError.BadRequest(
                        "invalid_scope",
                        $"credential scope {name} has an entry longer than {MaxEntryLength} characters or with control characters");
                }

                if (credential && entry != Wildcard && !IsCredentialEntry(entry))
                {
                    return KheishError.BadRequest(
                        "invalid_scope",
                        $"credential scope {name} entries are `connector:ENV_KEY` or `*`");
                }
            }
        }

        return n;
    }

    public bool Equals(CredentialScope? other) =>
        other is not null
        && Same(RouteAllow, other.RouteAllow) && Same(RouteDeny, other.RouteDeny)
        && Same(ConnectorAllow, other.ConnectorAllow) && Same(ConnectorDeny, other.ConnectorDeny)
        && Same(ConnectorCredentialAllow, other.ConnectorCredentialAllow) && Same(ConnectorCredentialDeny, other.ConnectorCredentialDeny)
        && Same(McpServerAllow, other.McpServerAllow) && Same(McpServerDeny, other.McpServerDeny);

    public override int GetHashCode() =>
        HashCode.Combine(Count(RouteAllow), Count(RouteDeny), Count(ConnectorAllow), Count(ConnectorDeny),
            Count(ConnectorCredentialAllow), Count(ConnectorCredentialDeny), Count(McpServerAllow), Count(McpServerDeny));

    private CredentialScope WithDefaultDenyMaterialized() =>
        CredentialsDeniedByDefault ? this with { ConnectorCredentialDeny = Everything } : this;

    private static (IReadOnlyList<string> Allow, IReadOnlyList<string> Deny) IntersectDimension(
        IReadOnlyList<string> allowA, IReadOnlyList<string> denyA, IReadOnlyList<string> allowB, IReadOnlyList<string> denyB)
    {
        IReadOnlyList<string> deny = NormalizeList(denyA.Concat(denyB).ToArray());
        if (IsUnrestricted(allowA))
        {
            return (allowB, deny);
        }

        if (IsUnrestricted(allowB))
        {
            return (allowA, deny);
        }

        string[] common = allowA.Intersect(allowB, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        return common.Length == 0 ? ([], Everything) : (common, deny);
    }

    private static bool IsUnrestricted(IReadOnlyList<string> allow) => allow.Count == 0 || (allow.Count == 1 && allow[0] == Wildcard);

    private static void Collect(string name, IReadOnlyList<string> childAllow, Func<string, bool> parentAllows, List<string> outside)
    {
        foreach (string entry in childAllow)
        {
            if (entry != Wildcard && !parentAllows(entry))
            {
                outside.Add($"{name} `{entry}`");
            }
        }
    }

    private static bool AllowsCredentialEntry(CredentialScope parent, string entry)
    {
        int colon = entry.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && parent.AllowsConnectorCredential(entry[..colon], entry[(colon + 1)..]);
    }

    private static bool IsCredentialEntry(string entry)
    {
        int colon = entry.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && colon < entry.Length - 1;
    }

    private static bool Allowed(IReadOnlyList<string>? allow, IReadOnlyList<string>? deny, string value) =>
        (Count(allow) == 0 || Matches(allow!, value)) && !(Count(deny) > 0 && Matches(deny!, value));

    private static bool Matches(IReadOnlyList<string> list, string value)
    {
        for (int i = 0; i < list.Count; i++)
        {
            string entry = list[i];
            if (entry == Wildcard || string.Equals(entry, value, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static string[] NormalizeList(IReadOnlyList<string>? list)
    {
        if (list is null || list.Count == 0)
        {
            return [];
        }

        var set = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string raw in list)
        {
            string entry = raw?.Trim() ?? string.Empty;
            if (entry.Length == 0)
            {
                continue;
            }

            if (entry == Wildcard)
            {
                return Everything;
            }

            set.Add(entry);
        }

        return [.. set];
    }

    private static bool Same(IReadOnlyList<string>? a, IReadOnlyList<string>? b) =>
        (a ?? []).SequenceEqual(b ?? [], StringComparer.Ordinal);

    private static int Count(IReadOnlyList<string>? list) => list?.Count ?? 0;
}
