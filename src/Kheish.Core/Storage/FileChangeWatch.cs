using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Kheish.Core.Storage;

/// <summary>
/// Change notification (inotify) for the few files the daemon consults on every request (token
/// files, security.json, the state root), so a request that finds nothing changed costs one
/// non-blocking <c>read</c> instead of a <c>statx</c> per file. A consumer remembers the
/// <see cref="Generation"/> at which it last checked its file and checks (stats) again only when
/// the generation moved.
/// <para>
/// "Takes effect on the next request" holds: inotify queues an event inside the syscall that made
/// the change, so any change completed before a request's <see cref="Generation"/> call is seen by
/// it. Watched: each file's directory (every entry change), and each ancestor directory (renamed,
/// deleted, permissions changed), so a moved or replaced directory is noticed too. Any event moves
/// the generation (a spurious event only costs one stat). The watch re-arms after each event (a
/// directory created later gets its own watch). Whenever it cannot be sure, it falls back to the
/// old behaviour for good, a generation that moves on every call: when inotify is unavailable, a
/// watched path goes through a symbolic link (rotation by symlink swap elsewhere would be
/// invisible), or the event queue overflowed.
/// </para>
/// <para>
/// A directory watch also reports attribute changes of every entry inside it, so an ancestor's
/// watch (say <c>/tmp</c>) would see any chmod or touch of its other entries. Events that name an
/// entry are therefore ignored when they come from a directory watched only as an ancestor; only
/// its events about itself count.
/// </para>
/// </summary>
internal sealed partial class FileChangeWatch : IDisposable
{
    private const int InNonBlock = 0x800;
    private const int InCloexec = 0x80000;
    private const uint InModify = 0x2;
    private const uint InAttrib = 0x4;
    private const uint InCloseWrite = 0x8;
    private const uint InMovedFrom = 0x40;
    private const uint InMovedTo = 0x80;
    private const uint InCreate = 0x100;
    private const uint InDelete = 0x200;
    private const uint InDeleteSelf = 0x400;
    private const uint InMoveSelf = 0x800;
    private const uint InQueueOverflow = 0x4000;
    private const uint InOnlyDir = 0x1000000;
    private const uint InDontFollow = 0x2000000;
    private const uint InMaskAdd = 0x20000000;
    private const uint EntryEvents = InModify | InAttrib | InCloseWrite | InMovedFrom | InMovedTo | InCreate | InDelete | InDeleteSelf | InMoveSelf;
    private const uint SelfEvents = InAttrib | InDeleteSelf | InMoveSelf;
    private const int Eagain = 11;

    private readonly Lock _armLock = new();
    private readonly List<string> _paths = [];
    private volatile HashSet<int> _ancestorOnly = [];
    private int _fd;
    private long _generation;
    private readonly Lock _drainLock = new();
    private volatile DrainResult? _lastDrain;
    private volatile bool _polling;

    private FileChangeWatch(int fd)
    {
        _fd = fd;
        _polling = fd < 0;
    }

    /// <summary>True once the watch gave up on notification and every call reports a change.</summary>
    public bool IsPolling => _polling;

    /// <summary>A watch, or a polling one when inotify is not available here.</summary>
    public static FileChangeWatch Create()
    {
        int fd;
        try
        {
            fd = InotifyInit1(InNonBlock | InCloexec);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            fd = -1;
        }

        return new FileChangeWatch(fd);
    }

    /// <summary>Adds a file (or directory) whose changes move the generation.</summary>
    public void Track(string path)
    {
        lock (_armLock)
        {
            _paths.Add(Path.GetFullPath(path));
            Arm();
        }

        lock (_drainLock)
        {
            Interlocked.Increment(ref _generation);
            _lastDrain = null;
        }
    }

    /// <summary>
    /// A number that differs from any earlier answer whenever a tracked file may have changed
    /// since. Costs one non-blocking read when nothing happened.
    /// </summary>
    public long Generation() => Generation(Stopwatch.GetTimestamp());

    /// <summary>
    /// The same for a caller that only needs the changes completed before <paramref name="notBefore"/>
    /// (a <see cref="Stopwatch.GetTimestamp"/> taken once a request is being served): a drain that
    /// began after that instant read a queue already holding their events, so its answer is reused
    /// and the several checks of one request, and concurrent requests, share one <c>read</c>.
    /// </summary>
    public long Generation(long notBefore)
    {
        if (_polling)
        {
            return Interlocked.Increment(ref _generation);
        }

        if (_lastDrain is { } done && done.StartedAt > notBefore)
        {
            return done.Generation;
        }

        // One caller at a time reads the queue, so nobody can see it empty while another holds
        // events it has not yet counted (the lock is held for one non-blocking read).
        lock (_drainLock)
        {
            if (_lastDrain is { } waited && waited.StartedAt > notBefore)
            {
                return waited.Generation;
            }

            long startedAt = Stopwatch.GetTimestamp();
            long generation;
            if (!Drain())
            {
                generation = Volatile.Read(ref _generation);
            }
            else
            {
                lock (_armLock)
                {
                    Arm();
                }

                generation = Interlocked.Increment(ref _generation);
            }

            if (_polling)
            {
                return generation;
            }

            _lastDrain = new DrainResult(startedAt, generation);
            return generation;
        }
    }

    /// <summary>When the last completed drain began, and the generation it left (one reference, published whole).</summary>
    private sealed record DrainResult(long StartedAt, long Generation);

    public void Dispose()
    {
        lock (_drainLock)
        {
            _polling = true;
            int fd = Interlocked.Exchange(ref _fd, -1);
            if (fd >= 0)
            {
                _ = Close(fd);
            }
        }
    }

    /// <summary>Reads every queued event; true when there was any.</summary>
    private unsafe bool Drain()
    {
        const int Size = 4096;
        byte* buffer = stackalloc byte[Size];
        bool any = false;
        while (true)
        {
            nint n = Read(_fd, buffer, Size);
            if (n <= 0)
            {
                if (n < 0 && Marshal.GetLastPInvokeError() != Eagain)
                {
                    _polling = true;
                    return true;
                }

                return any;
            }

            HashSet<int> ancestorOnly = _ancestorOnly;
            for (nint at = 0; at + 16 <= n;)
            {
                int wd = *(int*)(buffer + at);
                uint mask = *(uint*)(buffer + at + 4);
                uint nameLength = *(uint*)(buffer + at + 12);
                if ((mask & InQueueOverflow) != 0)
                {
                    _polling = true;
                    any = true;
                }
                else if (nameLength == 0 || !ancestorOnly.Contains(wd))
                {
                    any = true;
                }

                at += 16 + (nint)nameLength;
            }
        }
    }

    /// <summary>Caller holds <c>_armLock</c>. Watches every tracked path's directory and ancestors.</summary>
    private void Arm()
    {
        if (_polling)
        {
            return;
        }

        HashSet<int> entry = [];
        HashSet<int> ancestor = [];
        foreach (string path in _paths)
        {
            if (!ArmPath(path, entry, ancestor))
            {
                _polling = true;
                return;
            }
        }

        ancestor.ExceptWith(entry);
        _ancestorOnly = ancestor;
    }

    private bool ArmPath(string path, HashSet<int> entry, HashSet<int> ancestor)
    {
        if (IsSymbolicLink(path))
        {
            return false;
        }

        // The nearest existing directory gets entry events (a missing directory or file appearing
        // in it is a change); every directory above it, only events about itself.
        string? directory = Path.GetDirectoryName(path);
        uint mask = EntryEvents;
        while (directory is not null)
        {
            if (Directory.Exists(directory))
            {
                int wd = IsSymbolicLink(directory) ? -1 : AddWatch(_fd, directory, mask | InOnlyDir | InDontFollow | InMaskAdd);
                if (wd < 0)
                {
                    return false;
                }

                // A directory that was the nearest one earlier keeps its entry mask (InMaskAdd);
                // once a nearer directory exists, its entry events are ignored like any ancestor's.
                (mask == EntryEvents ? entry : ancestor).Add(wd);
                mask = SelfEvents;
            }

            directory = Path.GetDirectoryName(directory);
        }

        return true;
    }

    private static bool IsSymbolicLink(string path)
    {
        try
        {
            return (File.GetAttributes(path) & FileAttributes.ReparsePoint) != 0;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "inotify_init1", SetLastError = true)]
    private static partial int InotifyInit1(int flags);

    [LibraryImport("libc", EntryPoint = "inotify_add_watch", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int AddWatch(int fd, string path, uint mask);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint Read(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
