using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;

namespace Kheish.Daemon.Cli.Secrets;

/// <summary>
/// <c>--offline</c>: reads and writes <c>auth/global-slots.json</c> directly. Reads need no lock
/// (files are replaced atomically); a write takes <c>daemon.lock</c> for its duration and is
/// refused while a daemon holds it.
/// </summary>
internal sealed class OfflineSecretsBackend(StateRoot root, Func<string, string?> getEnv) : ISecretsBackend
{
    public const string LockedHint = "drop --offline to go through the daemon, or stop it first";

    public Task<Result<IReadOnlyList<SlotStatus>>> ListAsync(CancellationToken ct)
    {
        Result<SlotStore> store = Open();
        return Task.FromResult(store.IsOk
            ? Result<IReadOnlyList<SlotStatus>>.Ok(store.Value.ListStatus())
            : Result<IReadOnlyList<SlotStatus>>.Fail(store.Error));
    }

    public Task<Result<SlotStatus>> GetAsync(SlotId id, CancellationToken ct)
    {
        Result<SlotStore> store = Open();
        if (!store.IsOk)
        {
            return Task.FromResult(Result<SlotStatus>.Fail(store.Error));
        }

        return Task.FromResult(store.Value.Get(id) is { } record
            ? Result<SlotStatus>.Ok(record.ToStatus())
            : Result<SlotStatus>.Fail(NotFound(id)));
    }

    public Task<Result<SlotStatus>> SetAsync(SlotRecord record, CancellationToken ct) =>
        Task.FromResult(Locked(store => store.Set(record)));

    public Task<Result<bool>> DeleteAsync(SlotId id, CancellationToken ct) =>
        Task.FromResult(Locked(store => store.Delete(id)));

    public static KheishError NotFound(SlotId id) =>
        KheishError.NotFound("slot_not_found", $"no secret slot named {id}");

    private Result<SlotStore> Open()
    {
        Result<MasterKey?> key = MasterKey.FromEnvironment(getEnv);
        return key.IsOk ? SlotStore.Load(root, key.Value) : key.Error;
    }

    private Result<T> Locked<T>(Func<SlotStore, Result<T>> write)
    {
        // Validate the key before taking the lock: a bad configuration is reported as such.
        Result<MasterKey?> key = MasterKey.FromEnvironment(getEnv);
        if (!key.IsOk)
        {
            return key.Error;
        }

        // Without a key no write can succeed: refuse before touching the state root at all.
        if (key.Value is null)
        {
            return SlotStore.MasterKeyRequiredForWrite(root);
        }

        Result<DaemonLock> held = DaemonLock.TryAcquire(root, LockedHint);
        if (!held.IsOk)
        {
            return held.Error;
        }

        using DaemonLock daemonLock = held.Value;
        // Loaded under the lock so two offline writers never lose each other's update.
        Result<SlotStore> store = SlotStore.Load(root, key.Value);
        return store.IsOk ? write(store.Value) : store.Error;
    }
}
