namespace Kheish.Core.Broker;

/// <summary>
/// On-disk shape of <c>auth/global-slots.broker-state.json</c> (Kheish reference §2 maps).
/// Leases here carry their token digest; this type never leaves Core's storage path.
/// </summary>
internal sealed record BrokerState
{
    public const int CurrentVersion = 1;
    public const string Purpose = "broker-state";

    public int Version { get; init; } = CurrentVersion;
    public Dictionary<string, CredentialGrant> IssuedGrants { get; init; } = [];
    public Dictionary<string, StoredLease> IssuedRouteLeases { get; init; } = [];
    public Dictionary<string, StoredLease> IssuedConnectorLeases { get; init; } = [];
    public Dictionary<string, StoredLease> IssuedMcpLeases { get; init; } = [];
    public Dictionary<string, long> SubjectEpochs { get; init; } = [];

    /// <summary>Subject → revoked_at_ms. Permanent tombstones.</summary>
    public Dictionary<string, long> RevokedSubjects { get; init; } = [];

    /// <summary>Lease → its expires_at_ms: the revocation is spent (pruned) once the lease has expired.</summary>
    public Dictionary<string, long> RevokedLeases { get; init; } = [];

    /// <summary>Slot → revoked_at_ms, until the slot is rewritten.</summary>
    public Dictionary<string, long> RevokedSlots { get; init; } = [];
}

/// <summary>A lease as persisted: the public fields plus the base64url SHA-256 token digest.</summary>
internal sealed record StoredLease(
    string Id,
    string GrantId,
    string SubjectId,
    long SubjectEpoch,
    string TokenDigest,
    CredentialAudience Audience,
    long IssuedAtMs,
    long ExpiresAtMs);
