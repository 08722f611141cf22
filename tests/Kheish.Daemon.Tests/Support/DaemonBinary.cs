namespace Kheish.Daemon.Tests.Support;

/// <summary>
/// The shipped binary under test: <c>KHEISH_DAEMON_BIN</c> (scripts/test.sh points it at the
/// native AOT build in artifacts/), else artifacts/kheish-daemon, else the JIT apphost built
/// beside this test assembly (for a quick local loop only).
/// </summary>
public static class DaemonBinary
{
    public static string Path { get; } = Locate();

    public static string RepoRoot { get; } = FindRepoRoot();

    private static string Locate()
    {
        if (Environment.GetEnvironmentVariable("KHEISH_DAEMON_BIN") is { Length: > 0 } env)
        {
            return env;
        }

        string artifact = System.IO.Path.Combine(FindRepoRoot(), "artifacts", "kheish-daemon");
        if (File.Exists(artifact))
        {
            return artifact;
        }

        return System.IO.Path.Combine(AppContext.BaseDirectory, "kheish-daemon");
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Kheish.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("cannot find the repository root (Kheish.sln) above " + AppContext.BaseDirectory);
    }
}
