using System.Diagnostics;
using System.Text.Json;
using Kheish.Core.Broker;
using Kheish.Core.Errors;

namespace Kheish.Core.Connectors;

/// <summary>What a supervisor needs from the connector runtime.</summary>
internal interface ISidecarHost
{
    /// <summary>The daemon's own URL, given to the sidecar as <c>KHEISH_DAEMON_URL</c>.</summary>
    string DaemonUrl { get; }

    ProcessSpawner Spawner { get; }

    /// <summary>A fresh connector lease for this run of the sidecar (remembered as current).</summary>
    Result<IssuedLease> IssueLease(ConnectorDefinition definition);

    /// <summary>The run is over: its leases are no longer current (fetches refused at once).</summary>
    void ForgetLeases(string name);

    /// <summary>Why the sidecar must not run now (subject or slot revoked), or null.</summary>
    KheishError? Revocation(ConnectorDefinition definition);

    void Log(string connector, string message);
}

/// <summary>The supervisor's state as shown to operators.</summary>
internal sealed record SidecarStatus(string State, int? Pid, int Restarts, int? LastExitCode, string? LastError);

/// <summary>
/// Runs one external connector's sidecar: a cleared environment plus what the definition grants
/// and the three <c>KHEISH_*</c> variables; its own process group; SIGKILL on daemon death
/// (through the daemon's own binary as an exec trampoline). Restarts it with exponential backoff
/// (counted) when it exits, and stops it at once when the connector is disabled, deleted, or its
/// subject or one of its slots is revoked.
/// </summary>
internal sealed class SidecarSupervisor : IAsyncDisposable
{
    /// <summary>The argv[1] that makes kheish-daemon act as the exec trampoline.</summary>
    public const string TrampolineVerb = "__connector-exec";

    public const string TokenVariable = "KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN";
    public const string KeysVariable = "KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_KEYS_JSON";
    public const string UrlVariable = "KHEISH_DAEMON_URL";

    private static readonly string[] PassedVariables = ["PATH", "HOME", "LANG", "LC_ALL"];
    private static readonly string[] PassedPrefixes = ["SSL_CERT_", "TMP"];
    private static readonly TimeSpan RevocationPoll = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(3);

    private readonly ISidecarHost _host;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private ConnectorDefinition _definition;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;
    private SidecarStatus _status = new("starting", null, 0, null, null);

    public SidecarSupervisor(ISidecarHost host, ConnectorDefinition definition)
    {
        _host = host;
        _definition = definition;
    }

    public string Name => _definition.Name;

    public SidecarStatus Status
    {
        get
        {
            lock (_gate)
            {
                return _status;
            }
        }
    }

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token));

    /// <summary>The definition changed: the running sidecar is stopped and started again with it.</summary>
    public void Update(ConnectorDefinition definition)
    {
        lock (_gate)
        {
            _definition = definition;
            _changed.TrySetResult();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken ct)
    {
        int failures = 0;
        int restarts = 0;
        while (!ct.IsCancellationRequested)
        {
            ConnectorDefinition definition;
            Task changed;
            lock (_gate)
            {
                definition = _definition;
                if (_changed.Task.IsCompleted)
                {
                    _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                changed = _changed.Task;
            }

            if (!definition.Enabled)
            {
                SetStatus("disabled", null, restarts, null);
                await WaitAsync(changed, Timeout.InfiniteTimeSpan, ct).ConfigureAwait(false);
                continue;
            }

            IssuedLease? lease = null;
            if ((_host.Revocation(definition) ?? IssueAndCheck(definition, out lease)) is { } refusal)
            {
                _host.ForgetLeases(definition.Name);
                SetStatus("refused", null, restarts, refusal.Code);
                await WaitAsync(changed, TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
                continue;
            }

            Process process;
            try
            {
                process = await _host.Spawner.StartAsync(StartInfo(definition, lease!)).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
            {
                _host.ForgetLeases(definition.Name);
                _host.Log(definition.Name, $"cannot start the sidecar ({ex.GetType().Name})");
                SetStatus("backoff", null, restarts, "start_failed");
                await WaitAsync(changed, Backoff(++failures), ct).ConfigureAwait(false);
                continue;
            }

            using (process)
            {
                SetStatus("running", process.Id, restarts, null);
                _host.Log(definition.Name, $"sidecar started (pid {process.Id}, restarts {restarts})");
                Pump(definition.Name, process);
                long started = Environment.TickCount64;
                string why = await WatchAsync(process, definition, changed, ct).ConfigureAwait(false);
                _host.ForgetLeases(definition.Name);
                if (why != "exited")
                {
                    await StopAsync(process).ConfigureAwait(false);
                    _host.Log(definition.Name, $"sidecar stopped ({why})");
                    SetStatus(why == "revoked" ? "refused" : "stopped", null, restarts, why == "revoked" ? _host.Revocation(definition)?.Code : null);
                    continue;
                }

                int code = process.ExitCode;
                failures = Environment.TickCount64 - started > 60_000 ? 1 : failures + 1;
                restarts++;
                _host.Log(definition.Name, $"sidecar exited with code {code}; restart {restarts} in {Backoff(failures).TotalSeconds:0.#} s");
                SetStatus("backoff", null, restarts, null, code);
                await WaitAsync(changed, Backoff(failures), ct).ConfigureAwait(false);
            }
        }
    }

    private KheishError? IssueAndCheck(ConnectorDefinition definition, out IssuedLease? lease)
    {
        Result<IssuedLease> issued = _host.IssueLease(definition);
        lease = issued.IsOk ? issued.Value : null;
        return issued.IsOk ? null : issued.Error;
    }

    /// <summary>Waits for the child to exit, the definition to change, a revocation, or shutdown.</summary>
    private async Task<string> WatchAsync(Process process, ConnectorDefinition definition, Task changed, CancellationToken ct)
    {
        Task exited = process.WaitForExitAsync(CancellationToken.None);
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using CancellationTokenRegistration registration = ct.Register(() => stopping.TrySetResult());
        while (true)
        {
            Task poll = Task.Delay(RevocationPoll, CancellationToken.None);
            Task done = await Task.WhenAny(exited, changed, poll, stopping.Task).ConfigureAwait(false);
            if (done == exited)
            {
                return "exited";
            }

            if (done == changed)
            {
                return "definition changed";
            }

            if (ct.IsCancellationRequested)
            {
                return "daemon stopping";
            }

            if (_host.Revocation(definition) is not null)
            {
                return "revoked";
            }
        }
    }

    private static async Task StopAsync(Process process)
    {
        if (process.HasExited)
        {
            return;
        }

        ChildProcessNative.KillGroup(process.Id, ChildProcessNative.SigTerm);
        using var grace = new CancellationTokenSource(StopGrace);
        try
        {
            await process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        ChildProcessNative.KillGroup(process.Id, ChildProcessNative.SigKill);
        try
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
        }
    }

    private ProcessStartInfo StartInfo(ConnectorDefinition definition, IssuedLease lease)
    {
        var info = new ProcessStartInfo(Environment.ProcessPath ?? throw new InvalidOperationException("no process path"))
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = definition.Cwd ?? Path.GetTempPath(),
        };
        info.ArgumentList.Add(TrampolineVerb);
        info.ArgumentList.Add(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        info.ArgumentList.Add(definition.Command!);
        foreach (string arg in definition.Args ?? [])
        {
            info.ArgumentList.Add(arg);
        }

        // A cleared environment: only these of the daemon's, then what the definition grants.
        System.Collections.IDictionary mine = Environment.GetEnvironmentVariables();
        info.Environment.Clear();
        foreach (System.Collections.DictionaryEntry entry in mine)
        {
            string name = (string)entry.Key;
            if (PassedVariables.Contains(name, StringComparer.Ordinal) || PassedPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal)))
            {
                info.Environment[name] = (string?)entry.Value;
            }
        }

        foreach (var (name, value) in definition.Env ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        var keys = ((ConnectorAudience)lease.Lease.Audience).EnvKeys;
        info.Environment[TokenVariable] = lease.Token;
        info.Environment[KeysVariable] = JsonSerializer.Serialize([.. keys], ConnectorsJsonContext.Default.StringArray);
        info.Environment[UrlVariable] = _host.DaemonUrl;
        return info;
    }

    /// <summary>Copies the sidecar's output to the daemon log, line by line, prefixed and bounded.</summary>
    private void Pump(string name, Process process)
    {
        process.StandardInput.Close();
        _ = PumpAsync(name, process.StandardOutput);
        _ = PumpAsync(name, process.StandardError);
    }

    private async Task PumpAsync(string name, StreamReader reader)
    {
        try
        {
            while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                _host.Log(name, "sidecar: " + (line.Length > 4096 ? line[..4096] : line));
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    private void SetStatus(string state, int? pid, int restarts, string? error, int? exitCode = null)
    {
        lock (_gate)
        {
            _status = new SidecarStatus(state, pid, restarts, exitCode ?? _status.LastExitCode, error);
        }
    }

    private static TimeSpan Backoff(int failures) =>
        TimeSpan.FromMilliseconds(Math.Min(30_000, 500 * Math.Pow(2, Math.Min(failures - 1, 10))));

    private static async Task WaitAsync(Task changed, TimeSpan timeout, CancellationToken ct)
    {
        try
        {
            await Task.WhenAny(changed, Task.Delay(timeout, ct)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
