namespace Kheish.Core.Broker;

/// <summary>
/// One durable change, appended to <c>global-slots.broker-state.journal</c> and fsynced
/// before the change is acknowledged. Records hold resulting values (an epoch, not "+1"),
/// so replaying a record twice changes nothing.
/// </summary>
internal sealed record BrokerJournalRecord(
    string Op,
    long AtMs,
    string? SubjectId = null,
    long? Epoch = null,
    string? SlotId = null,
    Dictionary<string, long>? RevokedLeases = null)
{
    public const string Purpose = "broker-state-journal";
    public const string RevokeSubject = "revoke_subject";
    public const string SubjectEpoch = "subject_epoch";
    public const string RevokeLease = "revoke_lease";
    public const string RevokeSlot = "revoke_slot";
    public const string SlotRewritten = "slot_rewritten";
}
