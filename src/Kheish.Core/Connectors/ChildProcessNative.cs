using System.Runtime.InteropServices;

namespace Kheish.Core.Connectors;

/// <summary>
/// The libc calls a supervised child needs that .NET does not expose: the parent-death signal
/// (so a child cannot outlive a daemon killed with SIGKILL), its own process group (so the
/// daemon stops the child and what it spawned with one signal), and exec.
/// </summary>
internal static partial class ChildProcessNative
{
    public const int SigKill = 9;
    public const int SigTerm = 15;
    private const int PrSetPdeathsig = 1;

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "getppid")]
    private static partial int GetPpid();

    [LibraryImport("libc", EntryPoint = "setpgid", SetLastError = true)]
    private static partial int SetPgid(int pid, int pgid);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "execvp", SetLastError = true)]
    private static unsafe partial int ExecVp(byte* file, byte** argv);

    /// <summary>Sends <paramref name="signal"/> to every process of the group led by <paramref name="pgid"/>.</summary>
    public static bool KillGroup(int pgid, int signal) => pgid > 1 && Kill(-pgid, signal) == 0;

    /// <summary>
    /// The trampoline the daemon starts instead of the sidecar: arm SIGKILL-on-parent-death,
    /// make sure the parent is still the daemon (it may have died before the signal was armed),
    /// lead a new process group, then replace this process with the sidecar. Returns only on failure.
    /// </summary>
    public static unsafe int ExecChild(int expectedParent, string command, IReadOnlyList<string> args)
    {
        if (Prctl(PrSetPdeathsig, SigKill, 0, 0, 0) != 0)
        {
            Console.Error.WriteLine($"kheish-daemon: cannot arm the parent-death signal (errno {Marshal.GetLastPInvokeError()})");
            return 126;
        }

        if (GetPpid() != expectedParent)
        {
            return 125;
        }

        _ = SetPgid(0, 0);
        var pointers = new List<nint>();
        try
        {
            nint file = Marshal.StringToCoTaskMemUTF8(command);
            pointers.Add(file);
            byte** argv = (byte**)NativeMemory.AllocZeroed((nuint)(args.Count + 2), (nuint)sizeof(nint));
            argv[0] = (byte*)file;
            for (int i = 0; i < args.Count; i++)
            {
                nint arg = Marshal.StringToCoTaskMemUTF8(args[i]);
                pointers.Add(arg);
                argv[i + 1] = (byte*)arg;
            }

            _ = ExecVp((byte*)file, argv);
            int errno = Marshal.GetLastPInvokeError();
            NativeMemory.Free(argv);
            Console.Error.WriteLine($"kheish-daemon: cannot execute the connector command (errno {errno})");
            return 127;
        }
        finally
        {
            foreach (nint p in pointers)
            {
                Marshal.FreeCoTaskMem(p);
            }
        }
    }
}
