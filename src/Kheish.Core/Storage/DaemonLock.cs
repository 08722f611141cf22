using Kheish.Core.Errors;

namespace Kheish.Core.Storage;

/// <summary>
/// An exclusive advisory lock on <c>daemon.lock</c>. The daemon holds it while running;
/// offline CLI writers take it for the length of one write. The OS releases it when the
/// holder dies, so a crash never leaves a stale lock.
/// </summary>
internal sealed class DaemonLock : IDisposable
{
    private readonly FileStream _stream;

    private DaemonLock(FileStream stream) => _stream = stream;

    /// <summary>Takes the lock or returns a <c>state_root_locked</c> error naming the file.</summary>
    public static Result<DaemonLock> TryAcquire(StateRoot root, string purpose)
    {
        root.EnsureExists();
        try
        {
            // On Unix, FileShare.None makes .NET take flock(LOCK_EX | LOCK_NB) on the file.
            var stream = new FileStream(root.LockFile, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                UnixCreateMode = AtomicFile.PrivateFileMode,
            });
            return new DaemonLock(stream);
        }
        catch (IOException)
        {
            return KheishError.Conflict(
                "state_root_locked",
                $"a daemon is running on this state root ({root.LockFile} is locked); {purpose}");
        }
    }

    public void Dispose() => _stream.Dispose();
}
