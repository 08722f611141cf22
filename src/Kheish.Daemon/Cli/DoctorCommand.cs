using System.CommandLine;
using System.Text.Json.Serialization;
using Kheish.Core.Access;
using Kheish.Core.Audit;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Routes;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;

namespace Kheish.Daemon.Cli;

/// <summary>
/// <c>kheish-daemon doctor</c>: reads a setup (state root, security.json, environment, a running
/// daemon) and prints each risk with its fix. Changes nothing. Exit 1 when any check fails;
/// warnings alone exit 0.
/// </summary>
internal static class DoctorCommand
{
    private static readonly Option<string?> ProjectRoot = new("--project-root")
    {
        Description = "The agent's workspace: its .kheish/security.json is the one checked (default: the working directory), and the state root must not be inside it.",
    };

    private static readonly Option<string?> RoutesFileOption = new("--routes-file")
    {
        Description = "Also check this routes file against the store (as 'routes check --offline').",
    };

    /// <summary>Variables an agent started from this shell would inherit.</summary>
    private static readonly string[] InheritableSecrets =
    [
        MasterKey.ValueVariable, MasterKey.NewValueVariable,
        "KHEISH_DAEMON_TOKEN", "KHEISH_DAEMON_ADMIN_TOKEN", "KHEISH_DAEMON_READONLY_TOKEN",
        AuditSigningKey.EnvironmentVariable,
    ];

    public static Command Create()
    {
        var command = new Command(
            "doctor",
            "Check a setup and print each risk with its fix: state root (owner, mode, inside a git work tree or the agent's workspace), " +
            "secret file modes, master key and tokens in this environment, the security.json in effect, the ledger, the running daemon's auth, " +
            "and optionally a routes file. Changes nothing. Exit 1 when a check fails (warnings alone: 0).");
        command.Options.Add(ProjectRoot);
        command.Options.Add(RoutesFileOption);
        CommonOptions.AddClientOptions(command);
        command.SetAction(static (parseResult, ct) => RunAsync(parseResult, ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parseResult, CancellationToken ct)
    {
        bool json = CommonOptions.IsJson(parseResult);
        StateRoot root = CommonOptions.GetStateRoot(parseResult);
        SecurityConfigLocation location = SecurityConfigLocation.Resolve(parseResult.GetValue(ProjectRoot));
        var checks = new List<DoctorCheck>();

        CheckStateRoot(root, location, checks);
        CheckSecretFiles(root, checks);
        CheckEnvironment(checks);
        CheckMasterKey(root, checks);
        CheckSecurityConfig(location, checks);
        CheckLedger(root, checks);
        if (parseResult.GetValue(RoutesFileOption) is { } routes)
        {
            CheckRoutes(root, routes, checks);
        }

        if (!parseResult.GetValue(CommonOptions.Offline))
        {
            await CheckDaemonAsync(parseResult, checks, ct).ConfigureAwait(false);
        }

        bool ok = checks.TrueForAll(c => c.Status != DoctorStatus.Fail);
        if (json)
        {
            CliOutput.WriteJson(
                new DoctorReport(ok, [.. checks.Select(c => new DoctorCheckView(c.Name, c.Status.ToString().ToLowerInvariant(), c.Message, c.Fix))]),
                DoctorJsonContext.Default.DoctorReport);
        }
        else
        {
            foreach (DoctorCheck c in checks)
            {
                string tag = c.Status switch { DoctorStatus.Ok => "ok  ", DoctorStatus.Warn => "warn", _ => "FAIL" };
                CliOutput.Out.WriteLine($"{tag}  {c.Name}: {c.Message}");
                if (c.Fix is not null)
                {
                    CliOutput.Out.WriteLine($"      fix: {c.Fix}");
                }
            }

            int fails = checks.Count(c => c.Status == DoctorStatus.Fail);
            int warns = checks.Count(c => c.Status == DoctorStatus.Warn);
            CliOutput.Out.WriteLine(ok ? $"{warns} warning(s), no failure" : $"{fails} failure(s), {warns} warning(s)");
        }

        return ok ? ExitCodes.Ok : ExitCodes.HealthError;
    }

    private static void CheckStateRoot(StateRoot root, SecurityConfigLocation location, List<DoctorCheck> checks)
    {
        const string name = "state_root";
        if (!Directory.Exists(root.FullPath))
        {
            checks.Add(new(name, DoctorStatus.Warn, $"{root.FullPath} does not exist yet (serve creates it 0700)", "check --state-root / KHEISH_STATE_ROOT points where the daemon keeps its state"));
        }
        else if (FileStamp.OwnerAndMode(root.FullPath) is not { } owner)
        {
            checks.Add(new(name, DoctorStatus.Fail, $"{root.FullPath} cannot be examined", "check its permissions"));
        }
        else if (owner.Uid != FileStamp.EffectiveUid && owner.Uid != 0)
        {
            checks.Add(new(name, DoctorStatus.Fail, $"{root.FullPath} belongs to uid {owner.Uid}, not to this user (uid {FileStamp.EffectiveUid})", "run doctor as the daemon's user, or chown it to that user"));
        }
        else if ((owner.Permissions & 0x3F) != 0)
        {
            checks.Add(new(name, DoctorStatus.Fail, $"{root.FullPath} has mode {Convert.ToString(owner.Permissions, 8)}: other users can list or enter it", $"chmod 700 {root.FullPath}"));
        }
        else
        {
            checks.Add(new(name, DoctorStatus.Ok, $"{root.FullPath} (mode 700, owned by this user)", null));
        }

        string workspace = Path.GetFullPath(location.ProjectRoot);
        if (IsInside(root.FullPath, workspace))
        {
            checks.Add(new("state_root_location", DoctorStatus.Warn,
                $"the state root is inside the agent's workspace {workspace}: an agent working there may read it",
                "keep the state root elsewhere, e.g. --state-root ~/.local/state/kheish-daemon (and KHEISH_STATE_ROOT for the CLI)"));
        }
        else if (GitWorkTreeOf(root.FullPath) is { } gitTree)
        {
            checks.Add(new("state_root_location", DoctorStatus.Warn,
                $"the state root is inside the git work tree {gitTree}: it can be committed or read by tools working there",
                "move it outside any work tree"));
        }
        else
        {
            checks.Add(new("state_root_location", DoctorStatus.Ok, "outside the agent's workspace and any git work tree", null));
        }
    }

    private static void CheckSecretFiles(StateRoot root, List<DoctorCheck> checks)
    {
        string[] files =
        [
            root.ControlPlaneAdminTokenFile, root.AuditSigningKeyFile, root.SlotsFile, root.BrokerStateFile,
            Core.Broker.SessionRegistry.PathFor(root), root.ConnectorsFile, root.McpServersFile, root.McpOauthClientsFile,
            Environment.GetEnvironmentVariable(MasterKey.FileVariable) ?? "",
            Environment.GetEnvironmentVariable("KHEISH_DAEMON_ADMIN_TOKEN_FILE") ?? "",
            Environment.GetEnvironmentVariable("KHEISH_DAEMON_TOKEN_FILE") ?? "",
        ];
        int problems = 0;
        foreach (string file in files.Where(f => f.Length > 0).Distinct(StringComparer.Ordinal))
        {
            FileStamp stamp = FileStamp.Of(file);
            if (stamp.Kind != FileStampKind.Present)
            {
                continue;
            }

            string mode = Convert.ToString(stamp.Permissions, 8);
            if (stamp.IsWorldWritable || stamp.IsGroupWritable)
            {
                checks.Add(new("file_mode", DoctorStatus.Fail, $"{file} is writable by others (mode {mode}): serve refuses it or anyone may replace it", $"chmod 600 {file}"));
                problems++;
            }
            else if (!stamp.IsOwnedByUsOrRoot)
            {
                checks.Add(new("file_owner", DoctorStatus.Fail, $"{file} belongs to uid {stamp.Uid}, not to this user", "chown it to the daemon's user"));
                problems++;
            }
            else if (stamp.IsReadableByOthers)
            {
                checks.Add(new("file_mode", DoctorStatus.Warn, $"{file} is readable by group or others (mode {mode})", $"chmod 600 {file} (unless it is a mounted secret only this container sees)"));
                problems++;
            }
        }

        if (problems == 0)
        {
            checks.Add(new("file_mode", DoctorStatus.Ok, "token, key and store files are 0600 and ours", null));
        }
    }

    private static void CheckEnvironment(List<DoctorCheck> checks)
    {
        string[] set = [.. InheritableSecrets.Where(v => Environment.GetEnvironmentVariable(v) is { Length: > 0 })];
        checks.Add(set.Length == 0
            ? new("environment", DoctorStatus.Ok, "no secret KHEISH_* value in this environment", null)
            : new("environment", DoctorStatus.Warn,
                $"{string.Join(", ", set)} {(set.Length == 1 ? "is" : "are")} set here: an agent started from this shell inherits {(set.Length == 1 ? "it" : "them")}",
                "start the agent from a shell without these variables (or use the *_FILE forms with files the agent cannot read)"));
    }

    private static void CheckMasterKey(StateRoot root, List<DoctorCheck> checks)
    {
        const string name = "master_key";
        if (!MasterKey.FromEnvironment(Environment.GetEnvironmentVariable).TryGetValue(out MasterKey? key, out KheishError? error))
        {
            checks.Add(new(name, DoctorStatus.Fail, error.Message, $"set {MasterKey.ValueVariable} (or {MasterKey.FileVariable}) to the key from 'kheish-daemon secrets generate'"));
            return;
        }

        bool encrypted = File.Exists(root.SlotsFile) && EnvelopeCodec.IsEnvelope(File.ReadAllBytes(root.SlotsFile));
        if (key is null)
        {
            checks.Add(encrypted
                ? new(name, DoctorStatus.Warn, $"{root.SlotsFile} is encrypted and no master key is set here: serve started like this has env-backed routes only", $"set {MasterKey.ValueVariable} or {MasterKey.FileVariable} in the daemon's environment")
                : new(name, DoctorStatus.Ok, "no master key set and no encrypted store", null));
            return;
        }

        if (!SlotStore.Load(root, key).TryGetValue(out _, out error))
        {
            checks.Add(new(name, DoctorStatus.Fail, error.Message, "use the master key that wrote the store"));
            return;
        }

        checks.Add(new(name, DoctorStatus.Ok, $"master key {key.KeyId} opens the store", null));
    }

    private static void CheckSecurityConfig(SecurityConfigLocation location, List<DoctorCheck> checks)
    {
        const string name = "security_json";
        SecurityConfigSnapshot snapshot = SecurityConfigSource.ReadInEffect(location);
        if (!snapshot.IsValid)
        {
            checks.Add(new(name, DoctorStatus.Fail, $"{snapshot.Describe()}: {snapshot.Error.Message}", "fix the file (the agent plane refuses every request until then)"));
            return;
        }

        SecurityConfig config = snapshot.Config;
        if (snapshot.Origin == SecurityConfigOrigin.Default)
        {
            checks.Add(new(name, DoctorStatus.Warn, snapshot.Describe(), "run 'kheish-daemon security setup'"));
        }
        else if (config.Mode == SecurityMode.Lax)
        {
            checks.Add(new(name, DoctorStatus.Warn, $"{snapshot.Describe()} is in lax mode: any local process (the agent's tools included) uses the routes without a key", "kheish-daemon security set-mode strict, then security generate-key"));
        }
        else if (config.Mode == SecurityMode.Strict && config.ApiKeys.Count == 0)
        {
            checks.Add(new(name, DoctorStatus.Warn, $"{snapshot.Describe()} is strict with no key: every agent request is refused", "kheish-daemon security generate-key"));
        }
        else if (config.ApiKeys.Any(k => k.IsWeak))
        {
            checks.Add(new(name, DoctorStatus.Warn, $"{snapshot.Describe()} holds a key in plaintext", "any 'security' edit stores its digest instead, e.g. 'security status' after 'security allow-ip 127.0.0.1'"));
        }
        else
        {
            checks.Add(new(name, DoctorStatus.Ok, $"{snapshot.Describe()}: {config.Mode.Name()}, {config.ApiKeys.Count} key(s)", null));
        }
    }

    private static void CheckLedger(StateRoot root, List<DoctorCheck> checks)
    {
        const string name = "ledger";
        if (!LedgerVerifier.Verify(root, null, null).TryGetValue(out VerifyReport? report, out KheishError? error))
        {
            checks.Add(new(name, DoctorStatus.Fail, error.Message, "kheish-daemon runs verify --all for details"));
        }
        else if (!report.Ok)
        {
            checks.Add(new(name, DoctorStatus.Fail, $"bucket {report.FirstFailureBucket} does not verify: {report.FirstFailure?.Reason}", "kheish-daemon runs verify --all for details; restore the ledger from a backup"));
        }
        else
        {
            checks.Add(new(name, DoctorStatus.Ok, $"{report.Buckets} bucket(s), {report.Records} record(s) verify", null));
        }
    }

    private static void CheckRoutes(StateRoot root, string routesFile, List<DoctorCheck> checks)
    {
        RoutesCheckResult result = RoutesFile.LoadAndCheck(routesFile, AuthRefCatalogs.Offline(root, Environment.GetEnvironmentVariable));
        checks.Add(result.IsOk
            ? new("routes", DoctorStatus.Ok, $"{routesFile}: {result.Config.Routes.Count} route(s) usable", null)
            : new("routes", DoctorStatus.Fail, result.ToError().Message, $"kheish-daemon routes check --offline --routes-file {routesFile}"));
    }

    private static async Task CheckDaemonAsync(ParseResult parseResult, List<DoctorCheck> checks, CancellationToken ct)
    {
        const string name = "daemon";
        if (!CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out KheishError? error))
        {
            checks.Add(new(name, DoctorStatus.Fail, error.Message, null));
            return;
        }

        using (client)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            Result<Http.StatusResponse> status = await client.GetAsync("/v1/status", Http.HttpJsonContext.Default.StatusResponse, timeout.Token).ConfigureAwait(false);
            if (!status.TryGetValue(out Http.StatusResponse? s, out error))
            {
                checks.Add(error.Kind == ErrorKind.Unreachable
                    ? new(name, DoctorStatus.Ok, $"no daemon answers at {client.BaseUri} (nothing to check; --offline skips this)", null)
                    : new(name, DoctorStatus.Warn, $"the daemon at {client.BaseUri} answered: {error.Message}", "give --token-file (or --state-root of that daemon for its minted token)"));
                return;
            }

            if (s.ControlPlaneAuth.StartsWith("none", StringComparison.Ordinal))
            {
                checks.Add(new(name, DoctorStatus.Fail, $"the daemon at {client.BaseUri} has no control-plane auth: any local process can mint keys or switch the agent plane to lax", "restart serve without --http-auth-mode none"));
            }
            else if (s.AgentPlaneMode == "invalid")
            {
                checks.Add(new(name, DoctorStatus.Fail, $"the daemon at {client.BaseUri} refuses every agent request: its security.json ({s.AgentPlaneConfig}) is invalid", "kheish-daemon security status in the daemon's project"));
            }
            else
            {
                checks.Add(new(name, DoctorStatus.Ok, $"daemon at {client.BaseUri}: control plane {s.ControlPlaneAuth}; agent plane {s.AgentPlaneMode} ({s.AgentPlaneConfig})", null));
            }
        }
    }

    private static bool IsInside(string path, string directory)
    {
        string dir = directory.EndsWith(Path.DirectorySeparatorChar) ? directory : directory + Path.DirectorySeparatorChar;
        return path.StartsWith(dir, StringComparison.Ordinal) || path == directory;
    }

    private static string? GitWorkTreeOf(string path)
    {
        for (DirectoryInfo? d = new(path); d is not null; d = d.Parent)
        {
            if (Directory.Exists(Path.Combine(d.FullName, ".git")) || File.Exists(Path.Combine(d.FullName, ".git")))
            {
                return d.FullName;
            }
        }

        return null;
    }
}

internal enum DoctorStatus
{
    Ok,
    Warn,
    Fail,
}

internal sealed record DoctorCheck(string Name, DoctorStatus Status, string Message, string? Fix);

internal sealed record DoctorCheckView(string Name, string Status, string Message, string? Fix);

internal sealed record DoctorReport(bool Ok, IReadOnlyList<DoctorCheckView> Checks);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(DoctorReport))]
internal sealed partial class DoctorJsonContext : JsonSerializerContext;
