using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Kheish.Core.Access;

/// <summary>
/// What a file looks like to stat(2): identity (device, inode), size, mtime and ctime in
/// nanoseconds. Two equal stamps mean "same contents" for our purposes: an atomic replace
/// changes the inode, an in-place edit changes mtime. One statx call, no read, no allocation
/// beyond the path marshalling, so the daemon can afford it on every request.
/// </summary>
internal readonly partial record struct FileStamp(FileStampKind Kind, ulong Device, ulong Inode, ulong Size, long MtimeNs, long CtimeNs, int Errno, int Permissions = 0, long Uid = -1)
{
    public static readonly FileStamp Absent = new(FileStampKind.Absent, 0, 0, 0, 0, 0, 0);

    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;
    private const int Enoent = 2;
    private const int Enotdir = 20;
    private const int Enosys = 38;
    private static bool s_statxMissing;

    public static FileStamp Of(string path) => Of(Utf8Path(path), path);

    /// <summary>The NUL-terminated UTF-8 form of a path, computed once by callers that stat it per request.</summary>
    public static byte[] Utf8Path(string path)
    {
        byte[] bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(path) + 1];
        System.Text.Encoding.UTF8.GetBytes(path, bytes);
        return bytes;
    }

    public static FileStamp Of(byte[] utf8Path, string path)
    {
        if (!s_statxMissing)
        {
            Span<byte> buffer = stackalloc byte[256];
            int rc = Statx(AtFdCwd, ref MemoryMarshal.GetArrayDataReference(utf8Path), 0, StatxBasicStats, ref MemoryMarshal.GetReference(buffer));
            if (rc == 0)
            {
                ushort mode = BinaryPrimitives.ReadUInt16LittleEndian(buffer[28..]);
                const ushort typeMask = 0xF000;
                const ushort regular = 0x8000;
                if ((mode & typeMask) != regular)
                {
                    return new FileStamp(FileStampKind.Unusable, 0, 0, 0, 0, 0, 21);
                }

                return new FileStamp(
                    FileStampKind.Present,
                    ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(buffer[136..]) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(buffer[140..]),
                    BinaryPrimitives.ReadUInt64LittleEndian(buffer[32..]),
                    BinaryPrimitives.ReadUInt64LittleEndian(buffer[40..]),
                    Nanoseconds(buffer[112..]),
                    Nanoseconds(buffer[96..]),
                    0,
                    mode & 0x1FF,
                    BinaryPrimitives.ReadUInt32LittleEndian(buffer[20..]));
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno is Enoent or Enotdir)
            {
                return Absent;
            }

            if (errno != Enosys)
            {
                // EACCES, ELOOP, EIO...: the file may be there but we cannot see it. The caller
                // must not fall back to another file (that could be looser): it reports an error.
                return new FileStamp(FileStampKind.Unusable, 0, 0, 0, 0, 0, errno);
            }

            s_statxMissing = true;
        }

        var info = new FileInfo(path);
        return info.Exists
            ? new FileStamp(FileStampKind.Present, 0, 0, (ulong)info.Length, info.LastWriteTimeUtc.Ticks * 100, 0, 0, (int)info.UnixFileMode)
            : Absent;
    }

    /// <summary>True when users other than the owner's group may write the file (o+w).</summary>
    public bool IsWorldWritable => Kind == FileStampKind.Present && (Permissions & 0x2) != 0;

    /// <summary>True when the owner's group may write the file (g+w).</summary>
    public bool IsGroupWritable => Kind == FileStampKind.Present && (Permissions & 0x10) != 0;

    /// <summary>True when group or others may read the file (g+r or o+r).</summary>
    public bool IsReadableByOthers => Kind == FileStampKind.Present && (Permissions & 0x24) != 0;

    /// <summary>True when the file belongs to this process's effective user or to root (unknown owner counts as ours).</summary>
    public bool IsOwnedByUsOrRoot => Uid < 0 || Uid == 0 || Uid == EffectiveUid;

    /// <summary>This process's effective uid.</summary>
    public static long EffectiveUid { get; } = OperatingSystem.IsWindows() ? -1 : GetEuid();

    /// <summary>Owner and permission bits of a directory (or any path), or null when it cannot be examined.</summary>
    public static (long Uid, int Permissions)? OwnerAndMode(string path)
    {
        Span<byte> buffer = stackalloc byte[256];
        byte[] utf8 = Utf8Path(path);
        if (s_statxMissing || Statx(AtFdCwd, ref MemoryMarshal.GetArrayDataReference(utf8), 0, StatxBasicStats, ref MemoryMarshal.GetReference(buffer)) != 0)
        {
            return null;
        }

        return (BinaryPrimitives.ReadUInt32LittleEndian(buffer[20..]), BinaryPrimitives.ReadUInt16LittleEndian(buffer[28..]) & 0x1FF);
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuidNative();

    private static long GetEuid() => GetEuidNative();

    private static long Nanoseconds(ReadOnlySpan<byte> timestamp) =>
        (BinaryPrimitives.ReadInt64LittleEndian(timestamp) * 1_000_000_000L) + BinaryPrimitives.ReadUInt32LittleEndian(timestamp[8..]);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static partial int Statx(int dirfd, ref byte utf8Path, int flags, uint mask, ref byte buffer);
}

internal enum FileStampKind
{
    Absent,
    Present,

    /// <summary>stat failed for a reason other than "does not exist", or the path is not a regular file.</summary>
    Unusable,
}
