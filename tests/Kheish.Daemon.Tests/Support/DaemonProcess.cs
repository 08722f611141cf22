using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;

namespace Kheish.Daemon.Tests.Support;

/// <summary>
/// A real <c>kheish-daemon serve</c> on a free loopback port (--bind 127.0.0.1:0, the port read
/// from the ready line) with its own state root. Collects stdout/stderr for leak scans.
/// </summary>
public sealed partial class DaemonProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private DaemonProcess(Process process, string stateRoot)
    {
        _process = process;
        StateRoot = stateRoot;
    }

    public string StateRoot { get; }

    /// <summary>The admin token serve minted (auto mode on loopback without a configured token), or null.</summary>
    public string? MintedAdminToken =>
        File.Exists(System.IO.Path.Combine(StateRoot, "control-plane-auth", "admin.token"))
            ? File.ReadAllText(System.IO.Path.Combine(StateRoot, "control-plane-auth", "admin.token")).Trim()
            : null;

    public Uri BaseUri { get; private set; } = null!;

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Stdout { get { lock (_stdout) { return _stdout.ToString(); } } }

    public string Stderr { get { lock (_stderr) { return _stderr.ToString(); } } }

    public string Logs => Stdout + Stderr;

    /// <summary>
    /// The logs once they contain <paramref name="text"/>, or as they are after <paramref name="timeout"/> (default 20 s).
    /// The daemon's console logger writes on its own thread, so a line can arrive after the HTTP answer it belongs to.
    /// </summary>
    public async Task<string> LogsContainingAsync(string text, TimeSpan? timeout = null)
    {
        using var wait = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        while (!Logs.Contains(text, StringComparison.Ordinal) && !wait.IsCancellationRequested)
        {
            await Task.Delay(25);
        }

        return Logs;
    }

    /// <summary>A client with <paramref name="token"/>, else the minted admin token when serve minted one.</summary>
    public HttpClient Client(string? token = null)
    {
        token ??= MintedAdminToken;
        var client = new HttpClient { BaseAddress = BaseUri, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    /// <summary>Starts serve and waits for its ready line; throws with the logs if it exits first.</summary>
    public static async Task<DaemonProcess> StartAsync(
        string stateRoot,
        IEnumerable<string>? extraArgs = null,
        IDictionary<string, string?>? env = null,
        string? workingDirectory = null)
    {
        string[] extra = [.. extraArgs ?? []];
        var args = new List<string> { "serve" };
        if (!extra.Contains("--bind"))
        {
            args.AddRange(["--bind", "127.0.0.1:0"]);
        }

        args.AddRange(["--state-root", stateRoot, .. extra]);
        return await StartProcessAsync(args, stateRoot, env, workingDirectory);
    }

    /// <summary>Starts <c>witness serve</c> on a free port and waits for its ready line.</summary>
    public static Task<DaemonProcess> StartWitnessAsync(string stateRoot, IEnumerable<string> extraArgs) =>
        StartProcessAsync(["witness", "serve", "--bind", "127.0.0.1:0", "--state-root", stateRoot, .. extraArgs], stateRoot, null, null);

    private static async Task<DaemonProcess> StartProcessAsync(List<string> args, string stateRoot, IDictionary<string, string?>? env, string? workingDirectory)
    {
        var process = new Process { StartInfo = Cli.StartInfo(args, env, workingDirectory), EnableRaisingEvents = true };
        var daemon = new DaemonProcess(process, stateRoot);
        process.OutputDataReceived += (_, e) => daemon.OnLine(e.Data, daemon._stdout);
        process.ErrorDataReceived += (_, e) => daemon.OnLine(e.Data, daemon._stderr);
        process.Exited += (_, _) => daemon._ready.TrySetException(new InvalidOperationException("daemon exited before it was ready"));
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        Task done = await Task.WhenAny(daemon._ready.Task, Task.Delay(TimeSpan.FromSeconds(30)));
        if (done != daemon._ready.Task || daemon._ready.Task.IsFaulted)
        {
            await Task.Delay(200);
            string logs = daemon.Logs;
            await daemon.DisposeAsync();
            throw new InvalidOperationException($"kheish-daemon {args[0]} did not become ready.\n{logs}");
        }

        daemon.BaseUri = new Uri(await daemon._ready.Task);
        return daemon;
    }

    /// <summary>Runs serve expecting it to refuse to start; returns the exit code and output.</summary>
    public static Task<CliResult> RunExpectingRefusalAsync(string stateRoot, IEnumerable<string> extraArgs, IDictionary<string, string?>? env = null)
    {
        string[] extra = [.. extraArgs];
        string[] bind = extra.Contains("--bind") ? [] : ["--bind", "127.0.0.1:0"];
        return Cli.RunAsync(["serve", .. bind, "--state-root", stateRoot, .. extra], env, timeout: TimeSpan.FromSeconds(20));
    }

    public async Task<int> StopAsync(bool kill = false)
    {
        if (!_process.HasExited)
        {
            if (kill)
            {
                _process.Kill();
            }
            else
            {
                _ = Process.Start("kill", ["-TERM", _process.Id.ToString()])!;
            }
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }

    private void OnLine(string? line, StringBuilder sink)
    {
        if (line is null)
        {
            return;
        }

        lock (sink)
        {
            sink.AppendLine(line);
        }

        Match m = ReadyLine().Match(line);
        if (m.Success)
        {
            _ready.TrySetResult(m.Groups[1].Value);
        }
    }

    [GeneratedRegex(@"listening on (http://[^\s]+)")]
    private static partial Regex ReadyLine();
}
