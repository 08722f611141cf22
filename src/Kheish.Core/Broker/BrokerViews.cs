namespace Kheish.Core.Broker;

/// <summary>Operator view of a subject. Lease id lists are omitted when empty.</summary>
internal sealed record SubjectStatus(
    string SubjectId,
    long CurrentEpoch,
    bool Revoked,
    IReadOnlyList<string>? ActiveRouteLeaseIds,
    IReadOnlyList<string>? ActiveConnectorLeaseIds,
    IReadOnlyList<string>? ActiveMcpLeaseIds);

/// <summary>Operator view of a lease: the public lease (no digest), revoked and active flags.</summary>
internal sealed record LeaseStatus(CredentialLease Lease, bool Revoked, bool Active);

/// <summary>What a subject revocation did: the new epoch and the leases it killed.</summary>
internal sealed record SubjectRevocation(string SubjectId, long CurrentEpoch, IReadOnlyList<string> RevokedLeases, IReadOnlyList<string>? CascadedSubjects = null);

/// <summary>What a slot revocation did: the leases it killed. The slot stays tombstoned until rewritten.</summary>
internal sealed record SlotRevocation(string SlotId, IReadOnlyList<string> RevokedLeases);
