using Kheish.Core.Access;
using Kheish.Core.Audit;
using Kheish.Core.Broker;
using Kheish.Core.Routes;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;

namespace Kheish.Daemon.Http;

/// <summary>The daemon's long-lived components, shared by every endpoint.</summary>
internal sealed class DaemonContext(
    StateRoot stateRoot,
    TimeProvider clock,
    SlotStore slots,
    CredentialBroker broker,
    SessionRegistry sessions,
    ExternalActionLedger ledger,
    SecurityConfigSource agentSecurity,
    RoutesConfig? routes = null,
    bool masterKeyConfigured = false,
    string? storeUnavailable = null)
{
    public CredentialBroker Broker { get; } = broker;

    public SessionRegistry Sessions { get; } = sessions;

    public ExternalActionLedger Ledger { get; } = ledger;

    public SecurityConfigSource AgentSecurity { get; } = agentSecurity;

    public SlotStore Slots { get; } = slots;

    /// <summary>Connector definitions, sidecars and ingress; set by serve once the host is built.</summary>
    public Kheish.Core.Connectors.ConnectorRuntime? Connectors { get; set; }

    public RoutesConfig? Routes { get; } = routes;

    /// <summary>Per-key rate limits, concurrency and budgets, with the usage they are checked against.</summary>
    public Core.Limits.KeyLimiter Limits { get; } = new(new Core.Limits.UsageBook(clock));

    /// <summary>Counters and histograms served on <c>GET /metrics</c>.</summary>
    public Metrics.DaemonMetrics Metrics { get; } = new();

    /// <summary>Refreshes Codex and Claude Code account slots; null when the daemon serves none (no store key).</summary>
    public Core.Accounts.AccountManager? Accounts { get; init; }

    /// <summary>The public OAuth clients `mcp oauth login` registered, for reuse per issuer; null without a master key.</summary>
    public Core.Accounts.McpOauthClientStore? McpOauthClients { get; init; }

    public bool MasterKeyConfigured { get; } = masterKeyConfigured;

    /// <summary>Set when the store is encrypted but no master key is configured.</summary>
    public string? StoreUnavailable { get; } = storeUnavailable;

    /// <summary>Route ids whose auth_ref is this slot (a referenced slot cannot be deleted).</summary>
    public IReadOnlyList<string> RoutesReferencing(string slotId) =>
        Routes is null
            ? []
            : [.. Routes.Routes.Where(r => r.Credential is RouteCredential.AuthRef a && a.SlotId == slotId).Select(r => r.Id.ToString())];

    public StateRoot StateRoot { get; } = stateRoot;

    public DateTimeOffset StartedAt { get; } = clock.GetUtcNow();

    public TimeProvider Clock { get; } = clock;

    /// <summary>Change notification for the files read per request (serve sets it); null = stat every time.</summary>
    public FileChangeWatch? Watch { get; init; }

    private volatile StateRootCheck? _stateRootCheck;

    /// <summary>Named checks, each "ok" or a short reason without sensitive data.</summary>
    public Dictionary<string, string> ReadinessChecks()
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        return ReadinessChecks(AgentSecurity.Current(now), Ledger.Health, now);
    }

    /// <summary>
    /// The same checks from snapshots the caller already holds (each is taken once per request),
    /// the state root as of <paramref name="notBefore"/> (see <see cref="FileChangeWatch.Generation(long)"/>).
    /// </summary>
    public Dictionary<string, string> ReadinessChecks(SecurityConfigSnapshot agent, LedgerHealth audit, long notBefore)
    {
        var checks = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["state_root"] = StateRootExists(notBefore) ? "ok" : "state root directory is missing",
            ["secret_store"] = StoreUnavailable is null ? "ok" : "encrypted store not readable: no master key configured",
        };
        checks["external_action_audit"] = audit.Healthy
            ? "ok"
            : $"external action audit unavailable ({audit.UnavailableBuckets.Count} bucket(s){(audit.IndexProblem is null ? "" : ", index")}{(audit.TransparencyLogProblem is null ? "" : ", transparency log")})";
        checks["agent_plane_config"] = agent.IsValid ? "ok" : "security.json in effect is invalid; agent plane refuses every request";
        return checks;
    }

    private bool StateRootExists(long notBefore)
    {
        if (Watch is not { } watch)
        {
            return Directory.Exists(StateRoot.FullPath);
        }

        long generation = watch.Generation(notBefore);
        if (_stateRootCheck is { } check && check.Generation == generation)
        {
            return check.Exists;
        }

        bool exists = Directory.Exists(StateRoot.FullPath);
        _stateRootCheck = new StateRootCheck(generation, exists);
        return exists;
    }

    private sealed record StateRootCheck(long Generation, bool Exists);
}
