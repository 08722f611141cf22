using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Kheish.Core.Audit;

/// <summary>libc calls the ledger needs and .NET does not expose.</summary>
internal static partial class AuditNative
{
    private const int Eexist = 17;

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FdataSync(int fd);

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFs(int fd);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string existing, string created);

    /// <summary>
    /// Makes appended bytes durable. fdatasync also writes the metadata needed to read them back
    /// (the file size); it skips timestamps, which is all an append does not need.
    /// </summary>
    public static void DataSync(SafeFileHandle handle) => Sync(handle, fileSystem: false);

    /// <summary>Makes everything written to the file system that holds <paramref name="handle"/>'s file durable (syncfs).</summary>
    public static void SyncFileSystem(SafeFileHandle handle) => Sync(handle, fileSystem: true);

    private static void Sync(SafeFileHandle handle, bool fileSystem)
    {
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            int fd = (int)handle.DangerousGetHandle();
            if ((fileSystem ? SyncFs(fd) : FdataSync(fd)) != 0)
            {
                throw new IOException($"{(fileSystem ? "syncfs" : "fdatasync")} failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Publishes a fully written file under a new name only if that name is free: link(2) is
    /// atomic and never replaces. Returns false when the name already exists.
    /// </summary>
    public static bool TryLinkNew(string existing, string created)
    {
        if (Link(existing, created) == 0)
        {
            return true;
        }

        int errno = Marshal.GetLastPInvokeError();
        if (errno == Eexist)
        {
            return false;
        }

        throw new IOException($"cannot create '{created}' (errno {errno})");
    }
}
