using System.CommandLine;
using System.Net;
using Kheish.Core.Access;
using Kheish.Core.Audit;
using Kheish.Core.Broker;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Routes;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;
using Kheish.Daemon.Http;
using Kheish.Daemon.Http.AgentPlane;
using Kheish.Daemon.Http.ControlPlane;

namespace Kheish.Daemon.Cli;

/// <summary><c>kheish-daemon serve</c>: validate everything, take the state-root lock, listen.</summary>
internal static partial class ServeCommand
{
    public const string DefaultBind = "127.0.0.1:4000";

    private static readonly Option<string> Bind = new("--bind")
    {
        Description = $"Address and port to listen on (default {DefaultBind}). Port 0 picks a free port; the ready line says which.",
        DefaultValueFactory = _ => DefaultBind,
    };

    private static readonly Option<string?> RoutesFile = new("--routes-file")
    {
        Description = "TOML routes file (see README 'Routes file'). serve refuses to start if any route is invalid or references a missing auth_ref.",
    };

    private static readonly Option<string?> McpConfig = new("--mcp-config")
    {
        Description = "TOML file of [mcp_servers.<name>] tables (Codex shape; secrets as slot references). serve refuses to start if any server is invalid or references a missing slot ('kheish-daemon mcp check F' validates offline).",
    };

    private static readonly Option<string?> DefaultRoute = new("--default-route")
    {
        Description = "Route used by /agent/v1/routes/default/...; overrides default_route in the routes file.",
    };

    private static readonly Option<string?> AuthMode = new("--http-auth-mode")
    {
        Description = "Control-plane auth: auto (default; bearer with the configured admin token, or on loopback with one minted into <state-root>/control-plane-auth/admin.token), bearer, or none (explicit, loopback only, no token configured). Env KHEISH_HTTP_AUTH_MODE.",
    };

    private static readonly Option<string?> AdminToken = new("--http-admin-token")
    {
        Description = "Admin bearer token (env KHEISH_DAEMON_ADMIN_TOKEN). Prefer the -file form: argv is visible to other users.",
    };

    private static readonly Option<string?> AdminTokenFile = new("--http-admin-token-file")
    {
        Description = "File holding the admin token (env KHEISH_DAEMON_ADMIN_TOKEN_FILE). Re-read on change: rotation needs no restart.",
    };

    private static readonly Option<string?> ReadonlyToken = new("--http-readonly-token")
    {
        Description = "Read-only bearer token for safe GETs on inspection endpoints (env KHEISH_DAEMON_READONLY_TOKEN).",
    };

    private static readonly Option<string?> ReadonlyTokenFile = new("--http-readonly-token-file")
    {
        Description = "File holding the read-only token (env KHEISH_DAEMON_READONLY_TOKEN_FILE). Re-read on change.",
    };

    private static readonly Option<string[]> CorsAllowOrigin = new("--cors-allow-origin")
    {
        Description = "Extra browser origin allowed on the control plane (repeatable). Loopback origins are always allowed.",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<string[]> AllowedHost = new("--allowed-host")
    {
        Description = "Extra Host name the daemon answers to (repeatable), e.g. the name a reverse proxy forwards. The bind address, localhost and loopback addresses are always accepted; any other Host gets 421 (DNS rebinding guard).",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<long> MaxBodyBytes = new("--max-body-bytes")
    {
        Description = "Largest accepted request body in bytes (default 1048576). Larger bodies get 413.",
        DefaultValueFactory = _ => 1024 * 1024,
    };

    private static readonly Option<long> EgressMaxBodyBytes = new("--egress-max-body-bytes")
    {
        Description = "Largest request body the egress proxy (/agent/v1/routes/...) accepts, in bytes (default 10485760). Bodies are buffered to digest them before the call; larger ones get 413 payload_too_large.",
        DefaultValueFactory = _ => EgressOptions.DefaultMaxBodyBytes,
    };

    private static readonly Option<int> EgressTimeoutSeconds = new("--egress-timeout-seconds")
    {
        Description = "Seconds the egress proxy waits for the upstream's response headers, then for each next body chunk (default 300). Exceeded: 504 upstream_timeout.",
        DefaultValueFactory = _ => EgressOptions.DefaultTimeoutSeconds,
    };

    private static readonly Option<int> EgressMaxConcurrency = new("--egress-max-concurrency")
    {
        Description = "Upstream calls in flight per route (default 64). Beyond it a call is refused with 429 route_busy, not queued.",
        DefaultValueFactory = _ => EgressOptions.DefaultMaxConcurrency,
    };

    private static readonly Option<string?> ProjectRoot = new("--project-root")
    {
        Description = "Project whose .kheish/security.json configures the agent plane (default: the working directory; falls back to the global file).",
    };

    private static readonly Option<bool> AllowLaxOnNetwork = new("--allow-lax-on-network")
    {
        Description = "Permit security mode lax (no agent authentication) on a non-loopback bind. Dangerous.",
    };

    private static readonly Option<string?> LogOrigin = new("--log-origin")
    {
        Description = "Origin line (and note key name) of the transparency log's checkpoints (default: kheish-daemon/<first 8 hex of the audit public key>).",
    };

    private static readonly Option<string[]> Witness = new("--witness")
    {
        Description = "Witness to push each new transparency-log checkpoint to, as <url>=<hex Ed25519 public key> (repeatable; the key is what " +
            "'witness public-key' prints). https, or http to a loopback witness. Pushes run in the background; a cosignature is kept only when it " +
            "verifies under that key, and is attached to the served checkpoint and to receipts.",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<int> WitnessQuorum = new("--witness-quorum")
    {
        Description = "Witnesses (of --witness) that must cosign a checkpoint covering a record before its append completes (default 0: never wait). " +
            "Not reached within --witness-timeout-seconds: the append fails closed (503 witness_quorum_not_reached) and the action is not taken.",
        DefaultValueFactory = _ => 0,
    };

    private static readonly Option<int> WitnessTimeoutSeconds = new("--witness-timeout-seconds")
    {
        Description = "How long an append waits for the --witness-quorum (default 10 seconds), and for one witness answer.",
        DefaultValueFactory = _ => 10,
    };

    public static Command Create()
    {
        var command = new Command("serve", "Run the daemon: control plane (/v1/...) and agent plane (/agent/..., /mcp) on one listener.");
        command.Options.Add(Bind);
        command.Options.Add(RoutesFile);
        command.Options.Add(DefaultRoute);
        command.Options.Add(McpConfig);
        command.Options.Add(AuthMode);
        command.Options.Add(AdminToken);
        command.Options.Add(AdminTokenFile);
        command.Options.Add(ReadonlyToken);
        command.Options.Add(ReadonlyTokenFile);
        command.Options.Add(CorsAllowOrigin);
        command.Options.Add(AllowedHost);
        command.Options.Add(MaxBodyBytes);
        command.Options.Add(EgressMaxBodyBytes);
        command.Options.Add(EgressTimeoutSeconds);
        command.Options.Add(EgressMaxConcurrency);
        command.Options.Add(ProjectRoot);
        command.Options.Add(AllowLaxOnNetwork);
        command.Options.Add(LogOrigin);
        command.Options.Add(Witness);
        command.Options.Add(WitnessQuorum);
        command.Options.Add(WitnessTimeoutSeconds);
        command.SetAction(RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parseResult, CancellationToken ct)
    {
        bool json = CommonOptions.IsJson(parseResult);
        if (!TryParseBind(parseResult.GetValue(Bind)!, out IPEndPoint? bind, out KheishError? error))
        {
            return Refuse(ServeRefusal.Usage, error, json);
        }

        var authInput = new ControlPlaneAuthInput(
            parseResult.GetValue(AuthMode),
            parseResult.GetValue(AdminToken),
            parseResult.GetValue(AdminTokenFile),
            parseResult.GetValue(ReadonlyToken),
            parseResult.GetValue(ReadonlyTokenFile));
        if (!ControlPlaneAuthOptions.Resolve(authInput, bind, Environment.GetEnvironmentVariable)
                .TryGetValue(out ControlPlaneAuthOptions? auth, out error))
        {
            return Refuse(ServeRefusal.Usage, error, json);
        }

        long maxBody = parseResult.GetValue(MaxBodyBytes);
        if (maxBody is < 1024 or > 64L * 1024 * 1024)
        {
            return Refuse(ServeRefusal.Usage, KheishError.BadRequest("invalid_max_body", "--max-body-bytes must be between 1024 and 67108864"), json);
        }

        if (!ReadEgressOptions(parseResult).TryGetValue(out EgressOptions? egress, out error))
        {
            return Refuse(ServeRefusal.Usage, error, json);
        }

        if (!ReadWitnesses(parseResult).TryGetValue(out WitnessSettings? witnessSettings, out error))
        {
            return Refuse(ServeRefusal.Usage, error, json);
        }

        bool allowLax = parseResult.GetValue(AllowLaxOnNetwork);
        SecurityConfigLocation agentConfig = SecurityConfigLocation.Resolve(parseResult.GetValue(ProjectRoot));
        var agentSecurity = new SecurityConfigSource(agentConfig, laxPermitted: AgentAccessPolicy.IsLoopback(bind.Address) || allowLax);
        // Checked on the file as written: the source itself would already report lax-on-network as invalid.
        if (!AgentAccessPolicy.CheckBindAllowed(SecurityConfigSource.ReadInEffect(agentConfig), bind, allowLax).TryGetValue(out _, out error))
        {
            return Refuse(ServeRefusal.State, error, json);
        }

        StateRoot root = CommonOptions.GetStateRoot(parseResult);
        try
        {
            root.EnsureExists();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Refuse(ServeRefusal.State, KheishError.Misconfigured("state_root_unusable",
                $"cannot create or open the state root {root.FullPath}{(CommonOptions.SourceOf(parseResult, CommonOptions.StateRoot, Core.Storage.StateRoot.EnvironmentVariable) == "--state-root" ? "" : $" (from {Core.Storage.StateRoot.EnvironmentVariable})")}: {Kheish.Core.Errors.IoReason.Of(ex)}; check the path and its permissions"), json);
        }

        if (!DaemonLock.TryAcquire(root, "stop the other daemon or use another --state-root").TryGetValue(out DaemonLock? held, out error))
        {
            return Refuse(ServeRefusal.Conflict, error, json);
        }

        using DaemonLock lockHandle = held;
        // Lets an offline 'security set-mode lax' on a file this daemon reads be refused while it runs.
        using LaxRefusalMarker? laxMarker = agentSecurity.LaxPermitted ? null : LaxRefusalMarker.Hold(agentConfig);

        if (!auth.WithMintedToken(root).TryGetValue(out auth, out error))
        {
            return Refuse(ServeRefusal.State, error, json);
        }

        WarnAboutReadableSecretFiles(auth);

        // Fail closed: a bad master key or an unreadable store stops startup with the reason.
        if (!MasterKey.FromEnvironment(Environment.GetEnvironmentVariable).TryGetValue(out MasterKey? masterKey, out error))
        {
            return Refuse(ServeRefusal.State, error, json);
        }

        string? storeUnavailable = null;
        if (!SlotStore.Load(root, masterKey).TryGetValue(out SlotStore? slots, out error))
        {
            // Without a master key the daemon still serves env-backed routes and reads nothing
            // encrypted (DESIGN.md); any other store problem stops startup.
            if (masterKey is not null || error.Code != "master_key_required")
            {
                return Refuse(ServeRefusal.State, error, json);
            }

            storeUnavailable = error.Message;
            slots = SlotStore.EmptyWithoutKey(root);
        }

        RoutesConfig? routes = null;
        if (parseResult.GetValue(RoutesFile) is { } routesFile)
        {
            IAuthRefCatalog catalog = new SlotStoreAuthRefCatalog(slots, storeUnavailable);
            RoutesCheckResult check = Core.Routes.RoutesFile.LoadAndCheck(routesFile, catalog, parseResult.GetValue(DefaultRoute));
            if (!check.IsOk)
            {
                return Refuse(ServeRefusal.Usage, check.ToError(), json);
            }

            routes = check.Config;
        }
        else if (parseResult.GetValue(DefaultRoute) is not null)
        {
            return Refuse(ServeRefusal.Usage, KheishError.BadRequest("default_route_without_routes", "--default-route needs --routes-file"), json);
        }

        if (!McpCommand.LoadSetup(root, parseResult.GetValue(McpConfig), slots).TryGetValue(out Http.Mcp.McpSetup? mcp, out error))
        {
            return Refuse(ServeRefusal.Usage, error, json);
        }

        // The ledger refuses to open when records exist but the signing key is gone (fail closed).
        string? logOrigin = parseResult.GetValue(LogOrigin);
        if (logOrigin is not null && !Kheish.Core.Transparency.SignedNote.IsValidName(logOrigin))
        {
            return CliOutput.Fail(KheishError.BadRequest("invalid_log_origin", "--log-origin must be non-empty with no spaces, '+' or control characters (it is the checkpoint's note key name)"), json);
        }

        var ledgerOptions = new LedgerOptions { TransparencyLog = new Kheish.Core.Transparency.LogOptions { Origin = logOrigin }, DeferOpenChecks = true };
        if (!ExternalActionLedger.OpenForDaemon(root, Environment.GetEnvironmentVariable, ledgerOptions).TryGetValue(out ExternalActionLedger? ledger, out error))
        {
            return Refuse(ServeRefusal.State, error, json);
        }

        await using ExternalActionLedger ledgerHandle = ledger;
        IStateFileCodec codec = EnvelopeStateFileCodec.For(masterKey, root);
        if (!CredentialBroker.Open(root, codec).TryGetValue(out CredentialBroker? broker, out error))
        {
            return Refuse(ServeRefusal.State, error, json);
        }

        using CredentialBroker brokerHandle = broker;
        if (!SessionRegistry.Open(root, codec, broker).TryGetValue(out SessionRegistry? sessions, out error))
        {
            return Refuse(ServeRefusal.State, error, json);
        }

        if (!Core.Connectors.ConnectorStore.Load(root, masterKey).TryGetValue(out Core.Connectors.ConnectorStore? connectorStore, out error))
        {
            return Refuse(ServeRefusal.State, error, json);
        }

        // Rewriting a slot lifts its revocation tombstone (Kheish reference §2).
        slots.SlotWritten += id => broker.OnSlotRewritten(id.Value);

        if (!Core.Accounts.AccountTokenEndpoints.FromEnvironment(Environment.GetEnvironmentVariable).TryGetValue(out var tokenEndpoints, out error)
            || !AccountRefreshInterval().TryGetValue(out TimeSpan accountInterval, out error))
        {
            return Refuse(ServeRefusal.Usage, error, json);
        }

        ILogger? accountLog = null;
        using var accounts = new Core.Accounts.AccountManager(
            slots,
            new Core.Accounts.TokenRefreshClient(tokenEndpoints),
            broker.CheckSlot,
            TimeProvider.System,
            e => { if (accountLog is { } log) { LogAccountRefresh(log, e.SlotId, e.Trigger, e.Success ? "success" : "failure", e.Reason ?? "-"); } },
            ledger);

        // Token files, security.json and the state root are consulted on every request; inotify
        // tells when one may have changed, so an unchanged request skips their stat calls.
        using var watch = FileChangeWatch.Create();
        watch.Track(root.FullPath);
        agentSecurity.WatchWith(watch);
        auth.Admin?.WatchWith(watch);
        auth.Readonly?.WatchWith(watch);
        var daemon = new DaemonContext(root, TimeProvider.System, slots, broker, sessions, ledger, agentSecurity, routes, masterKey is not null, storeUnavailable)
        {
            Watch = watch,
            Accounts = storeUnavailable is null ? accounts : null,
            McpOauthClients = masterKey is null ? null : new Core.Accounts.McpOauthClientStore(root, masterKey),
        };
        // Budgets survive a restart: this month's per-key usage is read back from the ledger, in
        // the background once listening (a large ledger must not delay the start); records from
        // before this instant only, since later calls are counted live. Until it is done, keys with
        // a budget are refused with usage_restoring (fail closed); keys without one are not held up.
        long usageCutoffMs = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();

        var settings = new ServeSettings(bind, root, auth, parseResult.GetValue(CorsAllowOrigin) ?? [], maxBody, agentSecurity, egress,
            parseResult.GetValue(AllowedHost) ?? [], mcp);

        await using WebApplication app = DaemonHost.Build(settings, daemon);
        ILogger logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("kheish-daemon");
        await using var connectors = new Core.Connectors.ConnectorRuntime(
            root, connectorStore, slots, broker, ledger, TimeProvider.System, Environment.GetEnvironmentVariable,
            (name, message) => LogConnector(logger, name, message));
        daemon.Connectors = connectors;
        accountLog = logger;
        await using Kheish.Core.Transparency.WitnessPusher? witnesses = witnessSettings.Endpoints.Count == 0 || ledger.Log is not { } log
            ? null
            : new Kheish.Core.Transparency.WitnessPusher(log, witnessSettings.Endpoints, witnessSettings.Options, message => LogWitness(logger, message));
        ledger.Witnesses = witnesses;
        agentSecurity.Switched += (from, to) => LogSecurityConfigSwitched(logger, from.Describe(), to.Describe());

        // Tool calls the last run held for approval were failed when it stopped: record each as
        // abandoned before anything new can be held (they never run).
        if (!(await app.Services.GetRequiredService<Http.Mcp.McpApprovals>().RecoverAsync()).TryGetValue(out _, out KheishError? recoverError))
        {
            return Refuse(ServeRefusal.State, recoverError, json);
        }

        try
        {
            await app.StartAsync(ct);
        }
        catch (IOException ex)
        {
            return Refuse(ServeRefusal.Conflict, KheishError.Conflict("bind_failed", $"cannot listen on {bind}: {ex.Message}"), json);
        }

        // Issued leases are persisted lazily (a lease lost in a crash is simply invalid);
        // revocations are journaled durably at once. Flush every few seconds and at shutdown.
        using var flushTimer = new Timer(_ => broker.Flush(), null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
        daemon.Accounts?.StartBackground(accountInterval);
        _ = Task.Run(() =>
        {
            if (!daemon.Limits.Usage.Restore(ledger.Paths, usageCutoffMs).TryGetValue(out _, out KheishError? restoreError))
            {
                LogUsageNotRestored(logger, $"per-key usage was not restored, keys with a budget stay refused (usage_restoring) until a restart: {restoreError.Message}");
            }
        }, CancellationToken.None);

        string address = app.Urls.FirstOrDefault() ?? $"http://{bind}";
        string authDescription = settings.Auth.Describe();
        connectors.Start(address);
        witnesses?.Start();
        LogReady(logger, address, root.FullPath, authDescription);
        // Every bucket's tail and checkpoint are checked in the background once serving, so a
        // damaged bucket shows in /readyz without waiting for its next append.
        ledger.StartOpenChecks();
        await app.WaitForShutdownAsync(ct);
        // Sidecars stop with the daemon (and die with it on SIGKILL through the parent-death signal).
        await connectors.DisposeAsync();
        await flushTimer.DisposeAsync();
        broker.Flush();
        LogStopped(logger);
        return ExitCodes.Ok;
    }

    /// <summary>
    /// A refusal's exit code follows its class, not the kind of the error behind it, so a
    /// supervisor can tell "fix the command line" from "fix the state" from "something else holds it".
    /// </summary>
    private static int Refuse(ServeRefusal refusal, KheishError error, bool json) =>
        CliOutput.Fail(error, json, ExitCodes.ForServeRefusal(refusal));

    /// <summary>
    /// Secret files readable by group or others get one warning at startup, not a refusal:
    /// Kubernetes mounts secrets 0644 by default. World-writable ones are refused where they are read.
    /// </summary>
    private static void WarnAboutReadableSecretFiles(ControlPlaneAuthOptions auth)
    {
        (string? Path, string What)[] files =
        [
            (auth.Admin?.FilePath, "admin token file"),
            (auth.Readonly?.FilePath, "read-only token file"),
            (Environment.GetEnvironmentVariable(MasterKey.FileVariable), $"master key file ({MasterKey.FileVariable})"),
            (Environment.GetEnvironmentVariable(AuditSigningKey.FileEnvironmentVariable), $"audit signing key file ({AuditSigningKey.FileEnvironmentVariable})"),
        ];
        foreach ((string? path, string what) in files)
        {
            if (!string.IsNullOrWhiteSpace(path) && FileStamp.Of(path) is { IsReadableByOthers: true } stamp)
            {
                CliOutput.Warn($"the {what} {path} is readable by group or others (mode {Convert.ToString(stamp.Permissions, 8)}); run 'chmod 600 {path}' unless it is a mounted secret only this container sees");
            }
        }
    }

    private static Result<EgressOptions> ReadEgressOptions(ParseResult parseResult)
    {
        long body = parseResult.GetValue(EgressMaxBodyBytes);
        int timeout = parseResult.GetValue(EgressTimeoutSeconds);
        int concurrency = parseResult.GetValue(EgressMaxConcurrency);
        if (body is < 1024 or > 1024L * 1024 * 1024)
        {
            return KheishError.BadRequest("invalid_egress_max_body", "--egress-max-body-bytes must be between 1024 and 1073741824");
        }

        if (timeout is < 1 or > 86400)
        {
            return KheishError.BadRequest("invalid_egress_timeout", "--egress-timeout-seconds must be between 1 and 86400");
        }

        if (concurrency is < 1 or > 100000)
        {
            return KheishError.BadRequest("invalid_egress_concurrency", "--egress-max-concurrency must be between 1 and 100000");
        }

        return new EgressOptions(body, TimeSpan.FromSeconds(timeout), concurrency);
    }

    private sealed record WitnessSettings(IReadOnlyList<Kheish.Core.Transparency.WitnessEndpoint> Endpoints, Kheish.Core.Transparency.WitnessPushOptions Options);

    /// <summary>--witness, --witness-quorum and --witness-timeout-seconds, checked before anything starts.</summary>
    private static Result<WitnessSettings> ReadWitnesses(ParseResult parseResult)
    {
        var endpoints = new List<Kheish.Core.Transparency.WitnessEndpoint>();
        foreach (string value in parseResult.GetValue(Witness) ?? [])
        {
            if (!Kheish.Core.Transparency.WitnessEndpoint.Parse(value).TryGetValue(out Kheish.Core.Transparency.WitnessEndpoint? endpoint, out KheishError? error))
            {
                return error;
            }

            if (endpoints.Any(e => e.PublicKeyHex == endpoint.PublicKeyHex))
            {
                return KheishError.BadRequest("invalid_witness", $"--witness '{value}': the key {endpoint.PublicKeyHex} is given twice (a quorum counts distinct witnesses)");
            }

            endpoints.Add(endpoint);
        }

        int quorum = parseResult.GetValue(WitnessQuorum);
        if (quorum < 0 || quorum > endpoints.Count)
        {
            return KheishError.BadRequest("invalid_witness_quorum", $"--witness-quorum {quorum} must be between 0 and the number of --witness options ({endpoints.Count})");
        }

        int timeout = parseResult.GetValue(WitnessTimeoutSeconds);
        if (timeout is < 1 or > 600)
        {
            return KheishError.BadRequest("invalid_witness_timeout", $"--witness-timeout-seconds {timeout} must be between 1 and 600");
        }

        return new WitnessSettings(endpoints, new Kheish.Core.Transparency.WitnessPushOptions
        {
            Quorum = quorum,
            QuorumTimeout = TimeSpan.FromSeconds(timeout),
            RequestTimeout = TimeSpan.FromSeconds(timeout),
        });
    }

    /// <summary>host:port where host is an IPv4 address, [IPv6], or localhost.</summary>
    internal static bool TryParseBind(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPEndPoint? endpoint, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out KheishError? error)
    {
        endpoint = null;
        error = null;
        string value = text.Trim();
        if (value.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase))
        {
            value = "127.0.0.1" + value["localhost".Length..];
        }

        if (!IPEndPoint.TryParse(value, out endpoint) || !value.Contains(':', StringComparison.Ordinal)
            || (endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !value.StartsWith('[')))
        {
            endpoint = null;
            error = KheishError.BadRequest("invalid_bind", $"--bind '{text}' is not host:port (e.g. 127.0.0.1:4000 or [::1]:4000)");
            return false;
        }

        return true;
    }

    /// <summary>How often accounts are checked for a proactive refresh (env KHEISH_ACCOUNT_REFRESH_INTERVAL_SECONDS, default 60).</summary>
    private static Result<TimeSpan> AccountRefreshInterval()
    {
        const string variable = "KHEISH_ACCOUNT_REFRESH_INTERVAL_SECONDS";
        string? text = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return TimeSpan.FromSeconds(60);
        }

        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int seconds) && seconds is >= 1 and <= 3600
            ? TimeSpan.FromSeconds(seconds)
            : KheishError.BadRequest("invalid_account_refresh_interval", $"{variable} must be a whole number of seconds between 1 and 3600");
    }

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "account slot {SlotId}: {Trigger} refresh {Outcome} ({Reason})")]
    private static partial void LogAccountRefresh(ILogger logger, string slotId, string trigger, string outcome, string reason);

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "kheish-daemon listening on {Address} (state root {StateRoot}, control-plane auth: {Auth})", SkipEnabledCheck = true)]
    private static partial void LogReady(ILogger logger, string address, string stateRoot, string auth);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "agent-plane security.json in effect switched from {From} to {To}")]
    private static partial void LogSecurityConfigSwitched(ILogger logger, string from, string to);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "kheish-daemon stopped")]
    private static partial void LogStopped(ILogger logger);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "{Message}")]
    private static partial void LogWitness(ILogger logger, string message);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "{Message}")]
    private static partial void LogUsageNotRestored(ILogger logger, string message);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "connector {Connector}: {Message}")]
    private static partial void LogConnector(ILogger logger, string connector, string message);
}
