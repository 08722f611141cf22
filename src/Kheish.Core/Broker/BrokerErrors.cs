using Kheish.Core.Errors;

namespace Kheish.Core.Broker;

/// <summary>
/// The broker's refusals, one stable code per reason. A token that no longer authenticates
/// is <see cref="ErrorKind.Unauthorized"/>; a valid lease spent where it may not be (wrong
/// audience, revoked slot, scope) is <see cref="ErrorKind.Forbidden"/>. Messages name lease,
/// subject and slot ids, never a token or digest.
/// </summary>
internal static class BrokerErrors
{
    public const string LeaseUnknown = "lease_unknown";
    public const string LeaseExpired = "lease_expired";
    public const string LeaseRevoked = "lease_revoked";
    public const string SubjectRevoked = "subject_revoked";
    public const string SubjectEpochStale = "subject_epoch_stale";
    public const string SlotRevoked = "slot_revoked";
    public const string AudienceMismatch = "audience_mismatch";
    public const string ScopeDenied = "scope_denied";
    public const string LeaseNotFound = "lease_not_found";
    public const string StateUnavailable = "broker_state_unavailable";
    public const string StateDiskFull = "broker_state_disk_full";

    public static KheishError Unknown() =>
        KheishError.Unauthorized(LeaseUnknown, "the lease token is not known to this daemon (never issued, pruned, or lost in a restart)");

    public static KheishError Expired(string leaseId) =>
        KheishError.Unauthorized(LeaseExpired, $"lease `{leaseId}` has expired");

    public static KheishError Revoked(string leaseId) =>
        KheishError.Unauthorized(LeaseRevoked, $"lease `{leaseId}` has been revoked");

    public static KheishError SubjectWasRevoked(string subjectId) =>
        KheishError.Unauthorized(SubjectRevoked, $"subject `{subjectId}` has been revoked");

    public static KheishError EpochStale(string leaseId, string subjectId) =>
        KheishError.Unauthorized(SubjectEpochStale, $"lease `{leaseId}` predates the current epoch of subject `{subjectId}`");

    public static KheishError SlotWasRevoked(string slotId) =>
        KheishError.Forbidden(SlotRevoked, $"auth slot `{slotId}` has been revoked");

    public static KheishError WrongAudience(string leaseId) =>
        KheishError.Forbidden(AudienceMismatch, $"lease `{leaseId}` was not issued for this audience");

    public static KheishError NotAllowed(string subjectId, string what) =>
        KheishError.Forbidden(ScopeDenied, $"{what} is not allowed by the credential scope of subject `{subjectId}`");

    public static KheishError NoSuchSlot(string slotId) =>
        KheishError.NotFound("slot_not_found", $"no secret slot `{slotId}` exists; to revoke it pre-emptively (before it is written) pass --force (HTTP: ?force=true)");

    public static KheishError NoSuchLease(string leaseId) =>
        KheishError.NotFound(LeaseNotFound, $"lease `{leaseId}` is not known (never issued, expired and pruned, or lost in a restart)");
}
