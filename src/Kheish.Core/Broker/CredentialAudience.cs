using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;

namespace Kheish.Core.Broker;

/// <summary>
/// What a lease may be spent on, tagged by <c>type</c> in JSON (Kheish reference §2).
/// A lease is presented to exactly one kind of consumer, which states what it expects.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type", UnknownDerivedTypeHandling = JsonUnknownDerivedTypeHandling.FailSerialization)]
[JsonDerivedType(typeof(RouteAudience), "route")]
[JsonDerivedType(typeof(ConnectorAudience), "connector")]
[JsonDerivedType(typeof(McpServerAudience), "mcp_server")]
internal abstract record CredentialAudience
{
    public const string RouteLeasePrefix = "route-lease-";
    public const string ConnectorLeasePrefix = "connector-lease-";
    public const string McpLeasePrefix = "mcp-lease-";

    public static IReadOnlyList<string> LeasePrefixes { get; } = [RouteLeasePrefix, ConnectorLeasePrefix, McpLeasePrefix];

    /// <summary>Default and maximum lifetime of a lease for this audience.</summary>
    [JsonIgnore]
    public abstract TimeSpan MaxTtl { get; }

    [JsonIgnore]
    public abstract string LeasePrefix { get; }

    /// <summary>Whether a lease issued for this audience may be spent where <paramref name="expected"/> is asked.</summary>
    public abstract bool Covers(CredentialAudience expected);

    /// <summary>Whether this audience draws on the given secret slot (slot revocation kills it).</summary>
    public abstract bool UsesSlot(string slotId);

    /// <summary>The secret slots this audience draws on.</summary>
    public abstract IEnumerable<string> SlotIds();
}

/// <summary>A provider request through the egress proxy on one route, backed by one slot.</summary>
internal sealed record RouteAudience(string RouteId, string SlotId) : CredentialAudience
{
    [JsonIgnore]
    public override TimeSpan MaxTtl => TimeSpan.FromSeconds(60);

    [JsonIgnore]
    public override string LeasePrefix => RouteLeasePrefix;

    public override bool Covers(CredentialAudience expected) =>
        expected is RouteAudience r
        && string.Equals(r.RouteId, RouteId, StringComparison.Ordinal)
        && string.Equals(r.SlotId, SlotId, StringComparison.Ordinal);

    public override bool UsesSlot(string slotId) => string.Equals(SlotId, slotId, StringComparison.Ordinal);

    public override IEnumerable<string> SlotIds() => [SlotId];
}

/// <summary>
/// An external connector sidecar fetching the listed env keys (each backed by the secret
/// ref at the same index, when one is given).
/// </summary>
internal sealed record ConnectorAudience(string Connector, IReadOnlyList<string> EnvKeys, IReadOnlyList<string> SecretRefs)
    : CredentialAudience
{
    [JsonIgnore]
    public override TimeSpan MaxTtl => TimeSpan.FromSeconds(300);

    [JsonIgnore]
    public override string LeasePrefix => ConnectorLeasePrefix;

    /// <summary>
    /// The expectation names the connector and the env keys (and refs) being fetched; each of
    /// them must be among the lease's. A sidecar fetching one key asks with one key.
    /// </summary>
    public override bool Covers(CredentialAudience expected) =>
        expected is ConnectorAudience c
        && string.Equals(c.Connector, Connector, StringComparison.Ordinal)
        && c.EnvKeys.All(k => EnvKeys.Contains(k, StringComparer.Ordinal))
        && c.SecretRefs.All(r => SecretRefs.Contains(r, StringComparer.Ordinal));

    public override bool UsesSlot(string slotId) => SecretRefs.Contains(slotId, StringComparer.Ordinal);

    public override IEnumerable<string> SlotIds() => SecretRefs;

    public bool Equals(ConnectorAudience? other) =>
        other is not null
        && string.Equals(Connector, other.Connector, StringComparison.Ordinal)
        && EnvKeys.SequenceEqual(other.EnvKeys, StringComparer.Ordinal)
        && SecretRefs.SequenceEqual(other.SecretRefs, StringComparer.Ordinal);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Connector);
}

/// <summary>An MCP server call using an OAuth (or other) slot with a fixed set of scopes.</summary>
internal sealed record McpServerAudience(string Server, string SlotId, string ScopesHash) : CredentialAudience
{
    [JsonIgnore]
    public override TimeSpan MaxTtl => TimeSpan.FromSeconds(60);

    [JsonIgnore]
    public override string LeasePrefix => McpLeasePrefix;

    public override bool Covers(CredentialAudience expected) =>
        expected is McpServerAudience m
        && string.Equals(m.Server, Server, StringComparison.Ordinal)
        && string.Equals(m.SlotId, SlotId, StringComparison.Ordinal)
        && string.Equals(m.ScopesHash, ScopesHash, StringComparison.Ordinal);

    public override bool UsesSlot(string slotId) => string.Equals(SlotId, slotId, StringComparison.Ordinal);

    public override IEnumerable<string> SlotIds() => [SlotId];

    private static readonly string NoScopesHash = Convert.ToHexStringLower(SHA256.HashData([]));

    /// <summary>
    /// A stable id of a set of OAuth scopes: lowercase hex SHA-256 of the trimmed, sorted,
    /// deduplicated scopes joined by a newline. Order and repeats do not change it.
    /// </summary>
    public static string HashScopes(IEnumerable<string> scopes)
    {
        if (scopes is IReadOnlyCollection<string> { Count: 0 })
        {
            // Every call to a server without OAuth scopes asks for this one (issue 13's hot path).
            return NoScopesHash;
        }

        var sorted = scopes.Select(s => s.Trim()).Where(s => s.Length > 0)
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', sorted))));
    }
}
