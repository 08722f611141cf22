using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Kheish.Core.Access;

/// <summary>
/// What a file looks like to stat(2): identity (device, inode), size, mtime and ctime in
/// nanoseconds. Two equal stamps mean "same contents" for our purposes: an atomic replace
/// changes the inode, an in-place edit changes mtime. One statx call, no read, no allocation
/// beyond the path marshalling, so the daemon can afford it on every request.
/// </summary>
internal readonly partial record struct FileStamp(FileStampKind Kind, ulong Device, ulong Inode, ulong Size, long MtimeNs, long CtimeNs, int Errno, int Permissions = 0)
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
                    mode & 0x1FF);
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
