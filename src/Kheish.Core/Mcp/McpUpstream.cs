using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Kheish.Core.Errors;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Kheish.Core.Egress;

namespace Kheish.Core.Mcp;

/// <summary>
/// One upstream MCP server and the daemon's connection to it. Started on first use. A stdio
/// child runs through <see cref="McpChildShim"/> (own process group, dies with the daemon) with a
/// cleared environment: <see cref="McpServerValidator.PassThroughEnv"/>, the plain <c>env</c>, and
/// the <c>env_secret_refs</c> resolved through an MCP lease. A crash is counted and followed by a
/// restart after an exponential backoff (0.5 s doubling up to 30 s). An HTTP upstream gets its
/// headers resolved from the slots on every request.
/// </summary>
internal sealed partial class McpUpstream : IAsyncDisposable
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly IMcpSecretSource _secrets;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeProvider _clock;
    private readonly string _shimPath;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _state = new();

    private McpClient? _client;
    private Process? _process;
    private IReadOnlyList<Tool> _tools = [];
    private Task<Result<IReadOnlyList<Tool>>>? _missReread;
    private long _missRereadAt = long.MinValue / 2;
    private IReadOnlyList<InjectedSecret> _injected = [];
    private long _generation;
    private int _restarts;
    private int _failures;
    private DateTimeOffset _retryAt;
    private DateTimeOffset _startedAt;
    private string? _error;
    private string? _stoppedReason;
    private bool _disposed;

    public McpUpstream(McpServerDefinition definition, string origin, IMcpSecretSource secrets, ILoggerFactory loggers, TimeProvider clock, string shimPath)
    {
        Definition = definition;
        Origin = origin;
        _secrets = secrets;
        _loggers = loggers;
        _logger = loggers.CreateLogger("Kheish.Mcp");
        _clock = clock;
        _shimPath = shimPath;
    }

    public McpServerDefinition Definition { get; }

    /// <summary><c>config</c> (the --mcp-config file) or <c>managed</c> (mcp-servers.json).</summary>
    public string Origin { get; }

    public string Name => Definition.Name;

    public bool Connected => _client is not null;

    public int Restarts => Volatile.Read(ref _restarts);

    public string? Error => _stoppedReason ?? _error;

    public IReadOnlyList<Tool> Tools => _tools;

    /// <summary>The secrets in the running connection (for echo redaction).</summary>
    public IReadOnlyList<InjectedSecret> Injected => _injected;

    public int? ProcessId => _process is { } p ? SafePid(p) : null;

    public async Task<Result<McpClient>> EnsureAsync(CancellationToken ct)
    {
        if (_client is { } ready)
        {
            return ready;
        }

        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_client is { } raced)
            {
                return raced;
            }

            if (_disposed)
            {
                return KheishError.Unavailable("mcp_server_stopped", $"mcp server `{Name}` is stopped (the daemon is shutting down)");
            }

            if (_stoppedReason is { } reason)
            {
                return KheishError.Unavailable("mcp_server_stopped", $"mcp server `{Name}` is stopped: {reason}");
            }

            TimeSpan wait = _retryAt - _clock.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                return KheishError.Unavailable("mcp_server_restarting",
                    $"mcp server `{Name}` is restarting after a failure ({_error}); retry in {Math.Ceiling(wait.TotalSeconds):0} s");
            }

            return await ConnectLockedAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<Result<McpClient>> ConnectLockedAsync(CancellationToken ct)
    {
        long generation = Interlocked.Increment(ref _generation);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Definition.StartupTimeout);
        Process? process = null;
        try
        {
            IClientTransport transport;
            if (Definition.Transport == McpTransport.Stdio)
            {
                if (!_secrets.Resolve(Name, Definition.EnvSecretRefs ?? new Dictionary<string, string>()).TryGetValue(out IReadOnlyList<InjectedSecret>? env, out KheishError? error))
                {
                    return Failed(error);
                }

                process = await ChildSpawner.Shared.StartAsync(StartInfo(env)).ConfigureAwait(false);
                _ = DrainAsync(process.StandardError);
                _injected = env;
                transport = new StreamClientTransport(process.StandardInput.BaseStream, process.StandardOutput.BaseStream, _loggers);
            }
            else
            {
                if (!HeaderRefs().TryGetValue(out IReadOnlyList<InjectedSecret>? headers, out KheishError? error))
                {
                    return Failed(error);
                }

                if (Definition.OauthSlotRef is not null)
                {
                    // Fail before connecting: a missing, revoked or mismatched account is the operator's to fix.
                    if (!(await _secrets.ResolveOauthAsync(Definition, timeout.Token).ConfigureAwait(false)).TryGetValue(out InjectedSecret? bearer, out error))
                    {
                        return Failed(error);
                    }

                    headers = [.. headers, bearer];
                }

                _injected = headers;
                var http = new HttpClient(new InjectingHandler(this), disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
                transport = new HttpClientTransport(
                    new HttpClientTransportOptions
                    {
                        Endpoint = new Uri(Definition.Url!),
                        Name = Name,
                        TransportMode = HttpTransportMode.StreamableHttp,
                        ConnectionTimeout = Definition.StartupTimeout,
                    },
                    http,
                    _loggers,
                    ownsHttpClient: true);
            }

            McpClient client = await McpClient.CreateAsync(
                transport,
                new McpClientOptions { ClientInfo = new Implementation { Name = "kheish-daemon", Version = "1" } },
                _loggers,
                timeout.Token).ConfigureAwait(false);
            IReadOnlyList<Tool> tools = await ListAllToolsAsync(client, timeout.Token).ConfigureAwait(false);
            lock (_state)
            {
                _client = client;
                _process = process;
                _tools = tools;
                _error = null;
                _startedAt = _clock.GetUtcNow();
            }

            if (process is not null)
            {
                process.EnableRaisingEvents = true;
                process.Exited += (_, _) => OnExited(generation, process);
                if (process.HasExited)
                {
                    OnExited(generation, process);
                }
            }

            LogConnected(_logger, Name, Definition.Transport == McpTransport.Stdio ? "stdio" : "http", tools.Count);
            return client;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException or McpException or InvalidOperationException or System.ComponentModel.Win32Exception or JsonException)
        {
            if (process is not null)
            {
                Terminate(process);
            }

            if (OauthRefusedException.In(ex) is { } refused)
            {
                return Failed(refused.Error);
            }

            string why = ex is OperationCanceledException && !ct.IsCancellationRequested
                ? $"did not complete the MCP handshake within {Definition.StartupTimeout.TotalSeconds:0} s (startup_timeout_sec)"
                : ex is System.ComponentModel.Win32Exception ? "could not be started" : $"could not be connected ({ex.GetType().Name})";
            return Failed(KheishError.Unavailable("mcp_server_unavailable", $"mcp server `{Name}` {why}"));
        }
    }

    private Result<McpClient> Failed(KheishError error)
    {
        _failures++;
        _error = error.Message;
        _retryAt = _clock.GetUtcNow() + Backoff(_failures);
        LogUnavailable(_logger, Name, error.Code);
        return error;
    }

    private static TimeSpan Backoff(int failures) =>
        TimeSpan.FromMilliseconds(Math.Min(MaxBackoff.TotalMilliseconds, 500 * Math.Pow(2, Math.Max(0, failures - 1))));

    private Result<IReadOnlyList<InjectedSecret>> HeaderRefs()
    {
        var refs = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (header, slot) in Definition.HttpHeaderSecretRefs ?? new Dictionary<string, string>())
        {
            refs[header] = slot;
        }

        if (Definition.BearerTokenSecretRef is { } bearer)
        {
            refs["Authorization"] = bearer;
        }

        return _secrets.Resolve(Name, refs);
    }

    private ProcessStartInfo StartInfo(IReadOnlyList<InjectedSecret> secrets)
    {
        var info = new ProcessStartInfo(_shimPath)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Definition.Cwd ?? Environment.CurrentDirectory,
        };
        info.ArgumentList.Add(McpChildShim.Verb);
        info.ArgumentList.Add(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        info.ArgumentList.Add(Definition.Command!);
        foreach (string arg in Definition.Args ?? [])
        {
            info.ArgumentList.Add(arg);
        }

        // Nothing of the daemon's environment is inherited: only what ChildEnvironment grants.
        info.Environment.Clear();
        foreach (var (name, value) in ChildEnvironment(secrets, Environment.GetEnvironmentVariable))
        {
            info.Environment[name] = value;
        }

        // The shim is this binary: keep its runtime from opening a diagnostics socket (it drops this before exec).
        info.Environment["DOTNET_EnableDiagnostics"] = "0";
        return info;
    }

    /// <summary>The whole environment a stdio child gets (the daemon's is not inherited).</summary>
    public IReadOnlyDictionary<string, string> ChildEnvironment(IReadOnlyList<InjectedSecret> secrets, Func<string, string?> daemonEnv)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string name in McpServerValidator.PassThroughEnv)
        {
            if (daemonEnv(name) is { } value)
            {
                env[name] = value;
            }
        }

        foreach (var (name, value) in Definition.Env ?? new Dictionary<string, string>())
        {
            env[name] = value;
        }

        foreach (InjectedSecret s in secrets)
        {
            env[s.Target] = s.Value;
        }

        return env;
    }

    private static async Task<IReadOnlyList<Tool>> ListAllToolsAsync(McpClient client, CancellationToken ct)
    {
        var tools = new List<Tool>();
        string? cursor = null;
        do
        {
            ListToolsResult page = await client.ListToolsAsync(new ListToolsRequestParams { Cursor = cursor }, ct).ConfigureAwait(false);
            tools.AddRange(page.Tools);
            cursor = page.NextCursor;
        }
        while (cursor is not null && tools.Count < 10_000);

        return tools;
    }

    /// <summary>
    /// Whether this server lists <paramref name="tool"/>. A name missing from the cached list
    /// fetches the list again (a tool the upstream added since it connected still works), at most
    /// once per <see cref="MissRereadInterval"/>: within it a missing name is answered from the list
    /// just read.
    /// </summary>
    public async Task<Result<bool>> HasToolAsync(string tool, CancellationToken ct)
    {
        if (!(await EnsureAsync(ct).ConfigureAwait(false)).TryGetValue(out McpClient? client, out KheishError? error))
        {
            return error;
        }

        if (_tools.Any(t => string.Equals(t.Name, tool, StringComparison.Ordinal)))
        {
            return true;
        }

        // A name not in the list re-reads it (the server may have added the tool), but at most once
        // per MissRereadInterval, and concurrent misses share that read: an agent calling made-up
        // names must not turn each call into a tools/list sent upstream.
        Task<Result<IReadOnlyList<Tool>>> reread;
        lock (_state)
        {
            if (_missReread is { IsCompleted: true })
            {
                _missReread = null;
            }

            if (_missReread is null)
            {
                if (Environment.TickCount64 - _missRereadAt < (long)MissRereadInterval.TotalMilliseconds)
                {
                    return false;
                }

                _missReread = RereadToolsAsync(client);
            }

            reread = _missReread;
        }

        Result<IReadOnlyList<Tool>> tools = await reread.WaitAsync(ct).ConfigureAwait(false);
        return tools.TryGetValue(out IReadOnlyList<Tool>? list, out error)
            ? list.Any(t => string.Equals(t.Name, tool, StringComparison.Ordinal))
            : error;
    }

    /// <summary>The shortest time between two re-reads of the tool list for names it did not hold.</summary>
    internal static TimeSpan MissRereadInterval { get; } = TimeSpan.FromSeconds(1);

    private async Task<Result<IReadOnlyList<Tool>>> RereadToolsAsync(McpClient client)
    {
        // Off the caller's stack: the caller holds _state, and the read must not start under it.
        await Task.Yield();
        try
        {
            using var timeout = new CancellationTokenSource(Definition.ToolTimeout);
            IReadOnlyList<Tool> tools = await ListAllToolsAsync(client, timeout.Token).ConfigureAwait(false);
            lock (_state)
            {
                if (ReferenceEquals(_client, client))
                {
                    _tools = tools;
                }
            }

            return Result<IReadOnlyList<Tool>>.Ok(tools);
        }
        catch (Exception ex) when (ex is McpException or IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            return KheishError.Unavailable("mcp_server_failed", $"mcp server `{Name}` failed while listing its tools ({ex.GetType().Name})");
        }
        finally
        {
            Volatile.Write(ref _missRereadAt, Environment.TickCount64);
        }
    }

    /// <summary>Calls one tool of this server within its tool_timeout_sec.</summary>
    public async Task<Result<CallToolResult>> CallToolAsync(string tool, IDictionary<string, JsonElement>? arguments, CancellationToken ct)
    {
        if (!(await EnsureAsync(ct).ConfigureAwait(false)).TryGetValue(out McpClient? client, out KheishError? error))
        {
            return error;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Definition.ToolTimeout);
        try
        {
            return await client.CallToolAsync(new CallToolRequestParams { Name = tool, Arguments = arguments }, timeout.Token).ConfigureAwait(false);
        }
        catch (McpProtocolException ex)
        {
            return new KheishError("mcp_upstream_error", ErrorKind.BadRequest, $"mcp server `{Name}` refused the call ({ex.ErrorCode}): {ex.Message}");
        }
        catch (Exception ex) when (OauthRefusedException.In(ex) is { } refused)
        {
            // The operator's message (what to run, which scopes) reaches the caller; the SDK would
            // otherwise answer a generic "An error occurred invoking ...".
            return refused.Error;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            return KheishError.Unavailable("mcp_tool_timeout", $"mcp server `{Name}` did not answer `{tool}` within {Definition.ToolTimeout.TotalSeconds:0} s (tool_timeout_sec)");
        }
        catch (Exception ex) when (ex is IOException or McpException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            return KheishError.Unavailable("mcp_server_failed", $"mcp server `{Name}` failed during the call to `{tool}` (connection lost: {ex.GetType().Name}); it is restarted");
        }
    }

    /// <summary>Passes any other request (prompts, resources) to the connected upstream.</summary>
    public async Task<Result<T>> RequestAsync<T>(Func<McpClient, CancellationToken, ValueTask<T>> call, CancellationToken ct)
    {
        if (!(await EnsureAsync(ct).ConfigureAwait(false)).TryGetValue(out McpClient? client, out KheishError? error))
        {
            return error;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Definition.ToolTimeout);
        try
        {
            return await call(client, timeout.Token).ConfigureAwait(false);
        }
        catch (McpProtocolException ex)
        {
            return new KheishError("mcp_upstream_error", ErrorKind.BadRequest, $"mcp server `{Name}` refused the request ({ex.ErrorCode}): {ex.Message}");
        }
        catch (Exception ex) when (OauthRefusedException.In(ex) is { } refused)
        {
            return refused.Error;
        }
        catch (Exception ex) when (ex is IOException or McpException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            return KheishError.Unavailable("mcp_server_failed", $"mcp server `{Name}` failed during the request ({ex.GetType().Name})");
        }
    }

    private void OnExited(long generation, Process process)
    {
        McpClient? client;
        TimeSpan delay;
        lock (_state)
        {
            if (generation != Volatile.Read(ref _generation) || _process != process || _disposed)
            {
                return;
            }

            client = _client;
            _client = null;
            _process = null;
            _tools = [];
            _restarts++;
            bool quick = _clock.GetUtcNow() - _startedAt < TimeSpan.FromSeconds(10);
            _failures = quick ? _failures + 1 : 1;
            delay = Backoff(_failures);
            _retryAt = _clock.GetUtcNow() + delay;
            _error = $"the server process exited (code {SafeExitCode(process)})";
        }

        LogCrashed(_logger, Name, _restarts, (int)delay.TotalMilliseconds);
        ChildNative.KillGroup(SafePid(process) ?? 0, ChildNative.SigKill);
        _ = Task.Run(async () =>
        {
            if (client is not null)
            {
                await DisposeQuietlyAsync(client).ConfigureAwait(false);
            }

            await Task.Delay(delay).ConfigureAwait(false);
            if (_stoppedReason is null && !_disposed)
            {
                await EnsureAsync(CancellationToken.None).ConfigureAwait(false);
            }
        });
    }

    /// <summary>Stops the server; with a reason it stays stopped (revoked slot), without it the next use starts it again (rotation).</summary>
    public async Task StopAsync(string? reason)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            McpClient? client;
            Process? process;
            lock (_state)
            {
                Interlocked.Increment(ref _generation);
                client = _client;
                process = _process;
                _client = null;
                _process = null;
                _tools = [];
                _injected = [];
                _stoppedReason = reason;
                _retryAt = default;
                _failures = 0;
            }

            if (client is not null)
            {
                await DisposeQuietlyAsync(client).ConfigureAwait(false);
            }

            if (process is not null)
            {
                await StopProcessAsync(process).ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Clears a stop reason: the slot was rewritten.</summary>
    public void Resume()
    {
        _stoppedReason = null;
    }

    private static async Task StopProcessAsync(Process process)
    {
        int? pid = SafePid(process);
        if (pid is null || process.HasExited)
        {
            ChildNative.KillGroup(pid ?? 0, ChildNative.SigKill);
            return;
        }

        ChildNative.KillGroup(pid.Value, ChildNative.SigTerm);
        using var grace = new CancellationTokenSource(StopGrace);
        try
        {
            await process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        ChildNative.KillGroup(pid.Value, ChildNative.SigKill);
        process.Dispose();
    }

    private static void Terminate(Process process)
    {
        ChildNative.KillGroup(SafePid(process) ?? 0, ChildNative.SigKill);
        try
        {
            process.Kill();
        }
        catch (InvalidOperationException)
        {
        }
    }

    private static async Task DisposeQuietlyAsync(McpClient client)
    {
        try
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException or McpException)
        {
        }
    }

    private static async Task DrainAsync(StreamReader stderr)
    {
        // A child's stderr can carry anything, secrets included: it is read and dropped, never logged.
        char[] buffer = new char[4096];
        try
        {
            while (await stderr.ReadAsync(buffer).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
        }
    }

    private static int? SafePid(Process p)
    {
        try
        {
            return p.Id;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static string SafeExitCode(Process p)
    {
        try
        {
            return p.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (InvalidOperationException)
        {
            return "unknown";
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync("the daemon is shutting down").ConfigureAwait(false);
        _disposed = true;
    }

    /// <summary>Adds the slot-backed headers to every request toward an HTTP upstream, resolved at send time.</summary>
    private sealed class InjectingHandler(McpUpstream owner) : DelegatingHandler(OutboundHandler.Create(TimeSpan.FromSeconds(15)))
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (!owner.HeaderRefs().TryGetValue(out IReadOnlyList<InjectedSecret>? headers, out KheishError? error))
            {
                throw new HttpRequestException(HttpRequestError.Unknown, error.Message);
            }

            InjectedSecret? oauth = null;
            if (owner.Definition.OauthSlotRef is not null)
            {
                // Per request: a token refreshed since the last one is used at once.
                if (!(await owner._secrets.ResolveOauthAsync(owner.Definition, cancellationToken).ConfigureAwait(false)).TryGetValue(out oauth, out error))
                {
                    throw new HttpRequestException(HttpRequestError.Unknown, error.Message);
                }

                // Keep the previous token for echo redaction too: an answer may still hold it.
                headers = [.. headers, oauth, .. owner._injected.Where(i => i.SlotId == oauth.SlotId && i.Value != oauth.Value).Take(1)];
            }

            owner._injected = headers;
            foreach (var (name, value) in owner.Definition.HttpHeaders ?? new Dictionary<string, string>())
            {
                request.Headers.Remove(name);
                request.Headers.TryAddWithoutValidation(name, value);
            }

            foreach (InjectedSecret h in headers)
            {
                if (ReferenceEquals(h, oauth) || (oauth is not null && h.SlotId == oauth.SlotId))
                {
                    continue;
                }

                request.Headers.Remove(h.Target);
                if (string.Equals(h.Target, "Authorization", StringComparison.OrdinalIgnoreCase) && owner.Definition.BearerTokenSecretRef == h.SlotId
                    && owner.Definition.HttpHeaderSecretRefs?.ContainsKey("Authorization") != true)
                {
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", h.Value);
                }
                else
                {
                    request.Headers.TryAddWithoutValidation(h.Target, h.Value);
                }
            }

            if (oauth is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", oauth.Value);
            }

            HttpResponseMessage response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (oauth is not null && response.StatusCode is System.Net.HttpStatusCode.Forbidden or System.Net.HttpStatusCode.Unauthorized)
            {
                string challenge = string.Join(' ', response.Headers.WwwAuthenticate.Select(h => h.Parameter ?? string.Empty));
                bool insufficient = challenge.Contains("insufficient_scope", StringComparison.Ordinal);
                string scopes = InsufficientScopes(response.Headers.WwwAuthenticate) is { } needed ? string.Join(',', needed) : "...";
                LogOauthRefused(owner._logger, owner.Name, (int)response.StatusCode, insufficient ? "insufficient_scope" : "invalid_token");
                response.Dispose();

                // Never stepped up here: broader consent is the operator's, through a new login.
                throw new OauthRefusedException(insufficient, insufficient
                    ? $"mcp server `{owner.Name}` refused the call: insufficient_scope; the account does not hold the scopes it needs. An operator must run 'kheish-daemon mcp oauth login {Accounts.McpOauthAccount.IdOf(oauth.SlotId)} --url {owner.Definition.Url} --scopes {scopes}' again; agents cannot consent to broader scopes"
                    : $"mcp server `{owner.Name}` refused the account's access token ({(int)response.StatusCode}); check 'kheish-daemon mcp oauth status {Accounts.McpOauthAccount.IdOf(oauth.SlotId)}'");
            }

            return response;
        }
    }

    /// <summary>
    /// The scopes a 403 <c>insufficient_scope</c> challenge names (RFC 6750 §3.1, MCP step-up), when
    /// every one is a plain scope token: they go into the login command the operator is told to run.
    /// </summary>
    internal static IReadOnlyList<string>? InsufficientScopes(IEnumerable<AuthenticationHeaderValue> challenges)
    {
        foreach (AuthenticationHeaderValue challenge in challenges)
        {
            if (string.Equals(challenge.Scheme, "Bearer", StringComparison.OrdinalIgnoreCase) && challenge.Parameter is { } parameter
                && Accounts.McpOauthLogin.Param(parameter, "scope") is { Length: > 0 } scope)
            {
                string[] scopes = scope.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return scopes.Length is > 0 and <= 16 && scopes.All(x => x.Length <= 64 && x.All(c => c is > ' ' and <= '~' and not ',' and not '\'' and not '"'))
                    && Accounts.McpOauthUrls.CheckScopes(scopes, "scope") is null
                    ? scopes
                    : null;
            }
        }

        return null;
    }

    /// <summary>The upstream refused the OAuth account's token (401, or 403 insufficient_scope); its message says what the operator must do.</summary>
    private sealed class OauthRefusedException(bool insufficientScope, string message) : HttpRequestException(HttpRequestError.Unknown, message)
    {
        public KheishError Error { get; } = new(insufficientScope ? "mcp_oauth_insufficient_scope" : "mcp_oauth_token_refused", ErrorKind.Forbidden, message);

        public static OauthRefusedException? In(Exception? ex)
        {
            for (int depth = 0; ex is not null && depth < 8; depth++, ex = ex.InnerException)
            {
                if (ex is OauthRefusedException refused)
                {
                    return refused;
                }
            }

            return null;
        }
    }

    [LoggerMessage(EventId = 1301, Level = LogLevel.Information, Message = "mcp server {Server} connected ({Transport}, {Tools} tools)")]
    private static partial void LogConnected(ILogger logger, string server, string transport, int tools);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "mcp server {Server} unavailable ({Code})")]
    private static partial void LogUnavailable(ILogger logger, string server, string code);

    [LoggerMessage(EventId = 1304, Level = LogLevel.Warning, Message = "mcp server {Server} refused the OAuth token ({Status}, {Reason})")]
    private static partial void LogOauthRefused(ILogger logger, string server, int status, string reason);

    [LoggerMessage(EventId = 1303, Level = LogLevel.Warning, Message = "mcp server {Server} exited; restart {Restarts} in {DelayMs} ms")]
    private static partial void LogCrashed(ILogger logger, string server, int restarts, int delayMs);
}
