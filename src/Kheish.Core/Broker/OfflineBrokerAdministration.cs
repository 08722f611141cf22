using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Broker;

/// <summary>
/// Broker administration on the state files, with no daemon running. Reads open the file
/// as it is (atomic renames make that safe). Writes take <c>daemon.lock</c> for their length,
/// and are refused while a daemon holds it: its in-memory state would overwrite ours.
/// </summary>
internal sealed class OfflineBrokerAdministration(StateRoot root, IStateFileCodec codec, TimeProvider? clock = null, Func<string, Result<bool>>? slotExists = null)
    : IBrokerAdministration
{
    private const string LockedHint = "drop --offline to act through the running daemon";

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public Task<Result<SubjectStatus>> GetSubjectAsync(SubjectId subject, CancellationToken cancellationToken) =>
        Task.FromResult(Read(b => Result<SubjectStatus>.Ok(b.GetSubjectStatus(subject))));

    public Task<Result<SubjectRevocation>> RevokeSubjectAsync(SubjectId subject, CancellationToken cancellationToken) =>
        Task.FromResult(Write(b => SessionRegistry.Open(root, codec, b, _clock).TryGetValue(out SessionRegistry? sessions, out KheishError? error)
            ? SessionCascade.Revoke(b, sessions, subject)
            : error));

    public Task<Result<LeaseStatus>> GetLeaseAsync(LeaseId lease, CancellationToken cancellationToken) =>
        Task.FromResult(Read(b => b.GetLeaseStatus(lease)));

    public Task<Result<LeaseStatus>> RevokeLeaseAsync(LeaseId lease, CancellationToken cancellationToken) =>
        Task.FromResult(Write(b => b.RevokeLease(lease)));

    public Task<Result<SlotRevocation>> RevokeSlotAsync(string slotId, bool force, CancellationToken cancellationToken)
    {
        if (!force && slotExists is not null)
        {
            if (!slotExists(slotId).TryGetValue(out bool exists, out KheishError? error))
            {
                return Task.FromResult(Result<SlotRevocation>.Fail(error));
            }

            if (!exists)
            {
                return Task.FromResult(Result<SlotRevocation>.Fail(BrokerErrors.NoSuchSlot(slotId)));
            }
        }

        return Task.FromResult(Write(b => b.RevokeSlot(slotId)));
    }

    private Result<T> Read<T>(Func<CredentialBroker, Result<T>> action)
    {
        if (!CredentialBroker.Open(root.BrokerStateFile, codec, _clock).TryGetValue(out CredentialBroker? broker, out KheishError? error))
        {
            return error;
        }

        using (broker)
        {
            return action(broker);
        }
    }

    private Result<T> Write<T>(Func<CredentialBroker, Result<T>> action)
    {
        if (!DaemonLock.TryAcquire(root, LockedHint).TryGetValue(out DaemonLock? held, out KheishError? lockError))
        {
            return lockError;
        }

        using (held)
        {
            return Read(action);
        }
    }
}
