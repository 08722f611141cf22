using System.Runtime.InteropServices;

namespace Kheish.Core.Storage;

/// <summary>The few libc calls .NET does not expose: fsync of a directory.</summary>
internal static partial class PosixNative
{
    private const int ORdOnly = 0x0;
    private const int ODirectory = 0x10000; // Linux x86_64 / arm64
    private const int OCloexec = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    /// <summary>
    /// Makes a rename inside <paramref name="directory"/> durable. Throws on failure: a rename
    /// that may not survive a crash must not be acknowledged.
    /// </summary>
    public static void FsyncDirectory(string directory)
    {
        int fd = Open(directory, ORdOnly | ODirectory | OCloexec);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory '{directory}' to fsync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory '{directory}' failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }
}
