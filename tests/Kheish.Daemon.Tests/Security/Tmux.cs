using System.Diagnostics;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Security;

/// <summary>
/// A real pseudo-terminal for interactive tests: a private tmux server (own socket, no user
/// config) running one command; keys go in with send-keys, the screen comes back with
/// capture-pane.
/// </summary>
internal sealed class Tmux : IDisposable
{
    private readonly string _socket = "kheish-test-" + Guid.NewGuid().ToString("N")[..10];

    public static bool Available => FindTmux() is not null;

    public static async Task<Tmux> StartAsync(string workingDirectory, IDictionary<string, string> env, params string[] command)
    {
        var tmux = new Tmux();
        var args = new List<string> { "-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "220", "-y", "60", "-c", workingDirectory, "env", "-i" };
        args.Add("PATH=" + Environment.GetEnvironmentVariable("PATH"));
        args.Add("TERM=xterm");
        foreach (var (k, v) in env)
        {
            args.Add($"{k}={v}");
        }

        // The pane stays open after the command so its exit status can be read.
        args.AddRange(["sh", "-c", "\"$@\"; echo \"EXIT=$?\"; sleep 120", "sh"]);
        args.AddRange(command);
        await tmux.RunAsync(args);
        return tmux;
    }

    public async Task SendLineAsync(string text)
    {
        if (text.Length > 0)
        {
            // "--": text such as "-::1" must not be read as a tmux flag.
            await RunAsync(["send-keys", "-t", "t", "-l", "--", text]);
        }

        await RunAsync(["send-keys", "-t", "t", "Enter"]);
    }

    public Task SendCtrlDAsync() => RunAsync(["send-keys", "-t", "t", "C-d"]);

    public async Task<string> ScreenAsync() => (await RunAsync(["capture-pane", "-p", "-J", "-t", "t", "-S", "-200"])).Stdout;

    /// <summary>Waits until the screen contains <paramref name="text"/> (after <paramref name="occurrence"/>-1 earlier ones).</summary>
    public async Task<string> WaitForAsync(string text, int occurrence = 1, int timeoutSeconds = 30)
    {
        var sw = Stopwatch.StartNew();
        string screen = "";
        while (sw.Elapsed < TimeSpan.FromSeconds(timeoutSeconds))
        {
            screen = await ScreenAsync();
            if (Count(screen, text) >= occurrence)
            {
                return screen;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"'{text}' (#{occurrence}) did not appear; screen:\n{screen}");
    }

    public void Dispose()
    {
        try
        {
            RunAsync(["kill-server"]).Wait(TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
        }
    }

    private static int Count(string haystack, string needle)
    {
        int n = 0;
        for (int i = haystack.IndexOf(needle, StringComparison.Ordinal); i >= 0; i = haystack.IndexOf(needle, i + needle.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }

    private async Task<CliResult> RunAsync(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(FindTmux()!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-L");
        psi.ArgumentList.Add(_socket);
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        var result = new CliResult(p.ExitCode, await stdout, await stderr);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"tmux {string.Join(' ', args)} failed: {result}");
        }

        return result;
    }

    private static string? FindTmux() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin")
            .Split(':')
            .Select(d => Path.Combine(d, "tmux"))
            .FirstOrDefault(File.Exists);
}
