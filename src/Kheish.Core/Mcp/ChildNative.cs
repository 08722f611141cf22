using System.Runtime.InteropServices;

namespace Kheish.Core.Mcp;

/// <summary>libc calls for supervised children: their own session, death with the parent, exec, group signals.</summary>
internal static partial class ChildNative
{
    public const int SigKill = 9;
    public const int SigTerm = 15;
    private const int PrSetPdeathsig = 1;
    private const int SigPipe = 13;
    private const int SigSetMask = 2;

    [LibraryImport("libc", EntryPoint = "setsid", SetLastError = true)]
    public static partial int SetSid();

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "getppid")]
    public static partial int GetPpid();

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "execve", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Execve(string path, string?[] argv, string?[] envp);

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial nint Signal(int signal, nint handler);

    [LibraryImport("libc", EntryPoint = "sigprocmask")]
    private static unsafe partial int SigProcMask(int how, byte* set, byte* oldSet);

    /// <summary>SIGKILL to this process when the thread that created it dies (the daemon's spawner thread lives as long as the daemon).</summary>
    public static bool DieWithParent() => Prctl(PrSetPdeathsig, SigKill, 0, 0, 0) == 0;

    /// <summary>Replaces this process image; returns only on failure, with errno.</summary>
    public static unsafe int Exec(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp)
    {
        // The runtime ignores SIGPIPE and may block signals; a child starts with the defaults.
        _ = Signal(SigPipe, 0);
        byte* empty = stackalloc byte[128];
        new Span<byte>(empty, 128).Clear();
        _ = SigProcMask(SigSetMask, empty, null);
        string?[] a = [.. argv, null];
        string?[] e = [.. envp, null];
        _ = Execve(path, a, e);
        return Marshal.GetLastPInvokeError();
    }

    /// <summary>Signals a whole process group (the child is its group's leader).</summary>
    public static void KillGroup(int pgid, int signal)
    {
        if (pgid > 1)
        {
            _ = Kill(-pgid, signal);
        }
    }
}
