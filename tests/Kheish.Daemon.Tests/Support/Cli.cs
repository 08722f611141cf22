using System.Diagnostics;
using System.Text;

namespace Kheish.Daemon.Tests.Support;

public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public string All => Stdout + Stderr;

    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs the real binary as a user would: argv, environment, stdin.</summary>
public static class Cli
{
    /// <summary>Environment variables a test run must never inherit from the developer's shell.</summary>
    private static readonly string[] Scrubbed =
    [
        "KHEISH_STATE_ROOT", "KHEISH_AUTH_STORE_MASTER_KEY", "KHEISH_AUTH_STORE_MASTER_KEY_FILE",
        "KHEISH_AUTH_STORE_NEW_MASTER_KEY", "KHEISH_AUTH_STORE_NEW_MASTER_KEY_FILE",
        "KHEISH_DAEMON_URL", "KHEISH_DAEMON_TOKEN", "KHEISH_DAEMON_TOKEN_FILE",
        "KHEISH_DAEMON_ADMIN_TOKEN", "KHEISH_DAEMON_ADMIN_TOKEN_FILE",
        "KHEISH_DAEMON_READONLY_TOKEN", "KHEISH_DAEMON_READONLY_TOKEN_FILE", "KHEISH_HTTP_AUTH_MODE",
        "KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY", "KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY_FILE",
    ];

    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IDictionary<string, string?>? env = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(DaemonBinary.Path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? System.IO.Path.GetTempPath(),
        };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (string name in Scrubbed)
        {
            psi.Environment.Remove(name);
        }

        if (env is not null)
        {
            foreach (var (k, v) in env)
            {
                psi.Environment[k] = v;
            }
        }

        return psi;
    }

    public static async Task<CliResult> RunAsync(
        IEnumerable<string> args,
        IDictionary<string, string?>? env = null,
        string? stdin = null,
        string? workingDirectory = null,
        TimeSpan? timeout = null)
    {
        using var process = Process.Start(StartInfo(args, env, workingDirectory))!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        try
        {
            if (stdin is not null)
            {
                await process.StandardInput.WriteAsync(stdin);
            }

            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // Broken pipe: the command exited without reading its stdin (a refusal, or a value
            // taken from elsewhere). Its exit code and output are the result all the same.
        }

        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"kheish-daemon {string.Join(' ', args)} did not exit in time");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    public static Task<CliResult> RunAsync(params string[] args) => RunAsync(args, env: null);
}

/// <summary>Canary secrets: tests store them and then prove they leaked nowhere.</summary>
public static class Canary
{
    public static string New(string label = "canary") =>
        $"sk-{label}-{Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)).ToLowerInvariant()}";

    public static void AssertAbsent(string canary, string text, string where)
    {
        if (text.Contains(canary, StringComparison.Ordinal))
        {
            Assert.Fail($"canary secret leaked into {where}");
        }
    }

    /// <summary>Fails when any file (except those allowed, e.g. the encrypted store) contains the canary bytes.</summary>
    public static void AssertAbsentFromFiles(string canary, TempDir dir, params string[] allowedFileNames)
    {
        byte[] needle = Encoding.UTF8.GetBytes(canary);
        foreach (var (path, bytes) in dir.AllFiles())
        {
            if (allowedFileNames.Contains(System.IO.Path.GetFileName(path)))
            {
                continue;
            }

            if (bytes.AsSpan().IndexOf(needle) >= 0)
            {
                Assert.Fail($"canary secret leaked into file {path}");
            }
        }
    }
}
