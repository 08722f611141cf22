using Kheish.Core.Errors;

namespace Kheish.Core.Broker;

/// <summary>
/// The operator's broker verbs (<c>runtime auth ...</c>), whichever way they travel: straight
/// on the state files (<see cref="OfflineBrokerAdministration"/>) or through a running
/// daemon's <c>/v1/runtime/auth/...</c> endpoints (an HTTP client in the daemon project).
/// </summary>
internal interface IBrokerAdministration
{
    Task<Result<SubjectStatus>> GetSubjectAsync(SubjectId subject, CancellationToken cancellationToken);

    Task<Result<SubjectRevocation>> RevokeSubjectAsync(SubjectId subject, CancellationToken cancellationToken);

    Task<Result<LeaseStatus>> GetLeaseAsync(LeaseId lease, CancellationToken cancellationToken);

    Task<Result<LeaseStatus>> RevokeLeaseAsync(LeaseId lease, CancellationToken cancellationToken);

    /// <summary>Revokes a slot's leases; a slot that does not exist is 404 unless <paramref name="force"/> (pre-emptive revocation).</summary>
    Task<Result<SlotRevocation>> RevokeSlotAsync(string slotId, bool force, CancellationToken cancellationToken);
}
