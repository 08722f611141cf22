using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Kheish.Core.Audit;
using Kheish.Core.Broker;
using Kheish.Core.Errors;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;
using Kheish.Core.Egress;

namespace Kheish.Core.Connectors;

/// <summary>
/// The daemon's connectors: definitions (<see cref="ConnectorStore"/>, secrets written into
/// slots), supervised sidecars with connector leases, verified ingress queues, and delivery to
/// the platforms with the stored bot token. Every credential fetch, verified ingress event and
/// delivery is a ledger record (never with a value or a value's digest).
/// </summary>
internal sealed partial class ConnectorRuntime : ISidecarHost, IAsyncDisposable
{
    public const string CredentialKind = "connector_credential";
    public const string IngressKind = "connector_ingress";
    public const string DeliveryKind = "connector_delivery";

    /// <summary>Test and hardening knob: a connector lease lifetime below the 300 s maximum.</summary>
    public const string LeaseTtlVariable = "KHEISH_CONNECTOR_LEASE_TTL_SECONDS";

    public const int MaxIngressBodyBytes = 256 * 1024;

    private readonly Lock _gate = new();
    private readonly StateRoot _root;
    private readonly SlotStore _slots;
    private readonly CredentialBroker _broker;
    private readonly ExternalActionLedger _ledger;
    private readonly TimeProvider _clock;
    private readonly Func<string, string?> _environment;
    private readonly Action<string, string> _log;
    private readonly TimeSpan _leaseTtl;
    private readonly Dictionary<string, SidecarSupervisor> _sidecars = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _currentLeases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ConnectorEventQueue> _queues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _slackSeen = new(StringComparer.Ordinal);
    private readonly IngressFailureLimiter _failures;
    private readonly HttpClient _platform;
    private ProcessSpawner? _spawner;
    private string _daemonUrl = "";
    private bool _disposed;

    public ConnectorRuntime(
        StateRoot root, ConnectorStore store, SlotStore slots, CredentialBroker broker, ExternalActionLedger ledger,
        TimeProvider clock, Func<string, string?> environment, Action<string, string> log)
    {
        _root = root;
        Store = store;
        _slots = slots;
        _broker = broker;
        _ledger = ledger;
        _clock = clock;
        _environment = environment;
        _log = log;
        _failures = new IngressFailureLimiter(clock);
        _leaseTtl = int.TryParse(environment(LeaseTtlVariable), NumberStyles.None, CultureInfo.InvariantCulture, out int s) && s is >= 1 and <= 300
            ? TimeSpan.FromSeconds(s)
            : TimeSpan.FromSeconds(300);
        SocketsHttpHandler platform = OutboundHandler.Create(TimeSpan.FromSeconds(15));
        platform.UseProxy = false;
        _platform = new HttpClient(platform)
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    public ConnectorStore Store { get; }

    public string DaemonUrl => _daemonUrl;

    public ProcessSpawner Spawner => _spawner ??= new ProcessSpawner();

    /// <summary>Starts the sidecars of the enabled external connectors (the daemon is listening on <paramref name="daemonUrl"/>).</summary>
    public void Start(string daemonUrl)
    {
        _daemonUrl = daemonUrl.TrimEnd('/');
        foreach (ConnectorDefinition definition in Store.List().Where(d => d.Kind == ConnectorKind.External))
        {
            Reconcile(definition);
        }
    }

    // ---- definitions -------------------------------------------------------------------

    public IReadOnlyList<ConnectorView> List() => [.. Store.List().Select(View)];

    public Result<ConnectorView> Get(ConnectorKind kind, string name) =>
        Store.Get(kind, name) is { } d ? View(d) : UnknownConnector(kind, name);

    /// <summary>
    /// Creates or replaces a connector: inline secret values go into their slots first (needs
    /// the master key), then the definition is saved, then stale inline slots are removed and
    /// the sidecar (if any) restarts with the new definition.
    /// </summary>
    public Result<ConnectorView> Put(ConnectorKind kind, string name, ConnectorInput input)
    {
        lock (_gate)
        {
            ConnectorDefinition? existing = Store.Get(kind, name);
            long now = _clock.GetUtcNow().ToUnixTimeMilliseconds();
            if (!ConnectorDefinitions.Build(kind, name, input, existing, id => _slots.Get(id) is not null, now)
                    .TryGetValue(out BuiltConnector? built, out KheishError? error))
            {
                return error;
            }

            if (built.InlineWrites.Count > 0 && !_slots.HasMasterKey)
            {
                return SlotStore.MasterKeyRequiredForWrite(_root);
            }

            foreach (InlineSecretWrite write in built.InlineWrites)
            {
                Result<SlotStatus> stored = _slots.Set(SlotRecord.WithSecret(write.SlotId, SlotProvider.Generic, SlotMode.OpaqueSecret, write.Value, now));
                if (!stored.IsOk)
                {
                    return stored.Error;
                }
            }

            if (Store.Put(built.Definition) is { } saveError)
            {
                return saveError;
            }

            RemoveStaleInlineSlots(existing, built.Definition);
            if (kind == ConnectorKind.External)
            {
                Reconcile(built.Definition);
            }

            return View(built.Definition) with { BearerToken = built.NewBearerToken };
        }
    }

    public async Task<Result<bool>> DeleteAsync(ConnectorKind kind, string name)
    {
        SidecarSupervisor? sidecar = null;
        ConnectorDefinition? existing;
        lock (_gate)
        {
            existing = Store.Get(kind, name);
            if (existing is null)
            {
                return UnknownConnector(kind, name);
            }

            if (!Store.Delete(kind, name).TryGetValue(out _, out KheishError? error))
            {
                return error;
            }

            if (kind == ConnectorKind.External && _sidecars.Remove(name, out sidecar))
            {
                ForgetLeases(name);
            }

            _queues.Remove(existing.Key);
        }

        if (sidecar is not null)
        {
            await sidecar.DisposeAsync().ConfigureAwait(false);
        }

        lock (_gate)
        {
            RemoveStaleInlineSlots(existing, null);
        }

        return true;
    }

    /// <summary>Connectors (kind/name) whose secret fields reference <paramref name="slotId"/>.</summary>
    public IReadOnlyList<string> ConnectorsReferencing(string slotId) =>
        [.. Store.List().Where(d => d.SlotIds().Contains(slotId, StringComparer.Ordinal)).Select(d => d.Key)];

    public Result<ConnectorEventsResponse> PeekEvents(ConnectorKind kind, string name, bool drain)
    {
        if (Store.Get(kind, name) is not { } definition)
        {
            return UnknownConnector(kind, name);
        }

        ConnectorEventQueue queue = Queue(definition.Key);
        IReadOnlyList<ConnectorEvent> events = drain
            ? queue.TakeAsync(ConnectorEventQueue.Capacity, TimeSpan.Zero, CancellationToken.None).GetAwaiter().GetResult()
            : queue.Peek();
        return new ConnectorEventsResponse(events, queue.Dropped);
    }

    private void RemoveStaleInlineSlots(ConnectorDefinition? before, ConnectorDefinition? after)
    {
        var keep = new HashSet<string>(after?.SlotIds() ?? [], StringComparer.Ordinal);
        foreach (var (_, secret) in before?.Secrets() ?? [])
        {
            if (secret.Source == ConnectorSecret.Inline && secret.SecretRef is { } slot && !keep.Contains(slot)
                && SlotId.Parse(slot).TryGetValue(out SlotId id, out _))
            {
                _ = _slots.Delete(id);
            }
        }
    }

    private ConnectorView View(ConnectorDefinition d)
    {
        SidecarStatus? status = null;
        lock (_gate)
        {
            if (d.Kind == ConnectorKind.External)
            {
                status = _sidecars.TryGetValue(d.Name, out SidecarSupervisor? s) ? s.Status : new SidecarStatus(d.Enabled ? "stopped" : "disabled", null, 0, null, null);
            }
        }

        int? queued = d.Kind == ConnectorKind.External ? null : Queue(d.Key).Count;
        return new ConnectorView(d.Kind, d.Name, d.Enabled, d.UpdatedAtMs)
        {
            Command = d.Command,
            Args = d.Args,
            Cwd = d.Cwd,
            Env = d.Env,
            EnvKeys = d.EnvKeys?.ToDictionary(p => p.Key, p => p.Value.ToView(), StringComparer.Ordinal),
            IngressFrom = d.IngressFrom,
            Scope = d.Scope,
            SigningSecret = d.SigningSecret?.ToView(),
            SecretToken = d.SecretToken?.ToView(),
            BotToken = d.BotToken?.ToView(),
            BearerTokenConfigured = d.Kind == ConnectorKind.Http ? d.BearerDigest is not null : null,
            ApiBaseUrl = d.ApiBaseUrl,
            Sidecar = status,
            QueuedEvents = queued,
        };
    }

    private ConnectorEventQueue Queue(string key)
    {
        lock (_gate)
        {
            if (!_queues.TryGetValue(key, out ConnectorEventQueue? queue))
            {
                queue = new ConnectorEventQueue();
                _queues[key] = queue;
            }

            return queue;
        }
    }

    // ---- sidecars ----------------------------------------------------------------------

    private void Reconcile(ConnectorDefinition definition)
    {
        if (_daemonUrl.Length == 0)
        {
            return; // not started yet: Start() picks it up
        }

        lock (_gate)
        {
            if (_sidecars.TryGetValue(definition.Name, out SidecarSupervisor? running))
            {
                running.Update(definition);
                return;
            }

            var sidecar = new SidecarSupervisor(this, definition);
            _sidecars[definition.Name] = sidecar;
            sidecar.Start();
        }
    }

    public Result<IssuedLease> IssueLease(ConnectorDefinition definition)
    {
        CredentialScope scope = definition.Scope ?? CredentialScope.Unrestricted;
        var keys = new List<string>();
        var refs = new List<string>();
        foreach (var (key, secret) in definition.EnvKeys ?? new Dictionary<string, ConnectorSecret>())
        {
            // A key the scope denies is left out of the lease: its fetch is refused with the reason.
            if (scope.AllowsConnectorCredential(definition.Name, key))
            {
                keys.Add(key);
                if (secret.SlotId is { } slot)
                {
                    refs.Add(slot);
                }
            }
        }

        Result<IssuedLease> issued = _broker.IssueConnectorLease(SubjectId.ForConnector(definition.Name), scope, definition.Name, keys, refs, _leaseTtl);
        if (issued.IsOk)
        {
            lock (_gate)
            {
                if (!_currentLeases.TryGetValue(definition.Name, out HashSet<string>? current))
                {
                    current = new HashSet<string>(StringComparer.Ordinal);
                    _currentLeases[definition.Name] = current;
                }

                current.Add(issued.Value.Lease.Id);
            }
        }

        return issued;
    }

    public void ForgetLeases(string name)
    {
        lock (_gate)
        {
            _currentLeases.Remove(name);
        }
    }

    public KheishError? Revocation(ConnectorDefinition definition)
    {
        if (_broker.IsSubjectRevoked(SubjectId.ForConnector(definition.Name)))
        {
            return BrokerErrors.SubjectWasRevoked("connector:" + definition.Name);
        }

        foreach (string slot in definition.SlotIds())
        {
            if (_broker.CheckSlot(slot) is { } revoked)
            {
                return revoked;
            }
        }

        return null;
    }

    public void Log(string connector, string message) => _log(connector, message);

    // ---- the sidecar's endpoints (lease-authenticated) -----------------------------------

    /// <summary>
    /// <c>GET /v1/connectors/external/{name}/credentials/{env_key}</c>: the lease is checked
    /// (unknown, revoked subject/slot/lease, expired, another connector's), then the connector
    /// (exists, enabled, this run's lease), then the key (defined, allowed by the scope, in the
    /// lease, same secret ref). The value is released only after its ledger record is durable.
    /// </summary>
    public async Task<Result<CredentialResponse>> FetchCredentialAsync(string name, string envKey, string? authorization, CancellationToken ct)
    {
        if ((ConnectorName.CheckName(name) ?? ConnectorName.CheckEnvKey(envKey)) is { } idError)
        {
            return idError;
        }

        if (!CurrentLease(name, authorization).TryGetValue(out (ConnectorDefinition Definition, CredentialLease Lease) held, out KheishError? error))
        {
            return error;
        }

        (ConnectorDefinition definition, CredentialLease lease) = held;
        var audience = (ConnectorAudience)lease.Audience;
        if (definition.EnvKeys?.GetValueOrDefault(envKey) is not { } secret)
        {
            return KheishError.NotFound("unknown_env_key", $"connector `{name}` has no env key `{envKey}`");
        }

        CredentialScope scope = (_broker.GetGrant(lease.GrantId).TryGetValue(out CredentialGrant? grant, out _) ? grant.Scope : null)
            ?? CredentialScope.Unrestricted;
        if (!scope.AllowsConnectorCredential(name, envKey))
        {
            return BrokerErrors.NotAllowed("connector:" + name, $"connector credential `{name}:{envKey}`");
        }

        if (!audience.EnvKeys.Contains(envKey, StringComparer.Ordinal)
            || (secret.SlotId is { } slot && !audience.SecretRefs.Contains(slot, StringComparer.Ordinal)))
        {
            return BrokerErrors.WrongAudience(lease.Id);
        }

        if (!Resolve(secret, $"env key `{envKey}`").TryGetValue(out string? value, out error))
        {
            return error;
        }

        var ev = new ExternalActionEvent(ActionPhase.Completed, CredentialKind, $"{name}:{envKey}")
        {
            PrincipalId = lease.SubjectId,
            GrantId = lease.GrantId,
            Outcome = "released",
        };
        Result<LedgerRecord> recorded = await _ledger.AppendAsync(ev, ct).ConfigureAwait(false);
        return recorded.IsOk ? new CredentialResponse(value) : recorded.Error;
    }

    /// <summary><c>POST /v1/connectors/external/{name}/lease/renew</c>: a fresh lease with the same keys, before the old one expires.</summary>
    public Result<LeaseRenewResponse> RenewLease(string name, string? authorization)
    {
        if (!CurrentLease(name, authorization).TryGetValue(out (ConnectorDefinition Definition, CredentialLease Lease) held, out KheishError? error))
        {
            return error;
        }

        if (!IssueLease(held.Definition).TryGetValue(out IssuedLease? issued, out error))
        {
            return error;
        }

        return new LeaseRenewResponse(issued.Token, issued.Lease.Id, issued.Lease.ExpiresAtMs);
    }

    /// <summary><c>GET /v1/connectors/external/{name}/events</c>: long-poll the events of the connector named by <c>ingress_from</c>.</summary>
    public async Task<Result<ConnectorEventsResponse>> TakeEventsAsync(string name, string? authorization, TimeSpan wait, CancellationToken ct)
    {
        if (!CurrentLease(name, authorization).TryGetValue(out (ConnectorDefinition Definition, CredentialLease Lease) held, out KheishError? error))
        {
            return error;
        }

        if (!IngressSource(held.Definition).TryGetValue(out ConnectorDefinition? source, out error))
        {
            return error;
        }

        ConnectorEventQueue queue = Queue(source.Key);
        IReadOnlyList<ConnectorEvent> events = await queue.TakeAsync(64, wait, ct).ConfigureAwait(false);
        return new ConnectorEventsResponse(events, queue.Dropped);
    }

    private Result<(ConnectorDefinition, CredentialLease)> CurrentLease(string name, string? authorization)
    {
        if (ConnectorName.CheckName(name) is { } nameError)
        {
            return nameError;
        }

        if (authorization is null || !authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return KheishError.Unauthorized("missing_credentials", "send the connector lease as `Authorization: Bearer <KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN>`");
        }

        Result<CredentialLease> validated = _broker.Validate(authorization["Bearer ".Length..].Trim(), new ConnectorAudience(name, [], []));
        if (!validated.TryGetValue(out CredentialLease? lease, out KheishError? error))
        {
            return error;
        }

        if (Store.Get(ConnectorKind.External, name) is not { } definition)
        {
            return UnknownConnector(ConnectorKind.External, name);
        }

        if (!definition.Enabled)
        {
            return KheishError.Forbidden("connector_disabled", $"connector `external/{name}` is disabled");
        }

        lock (_gate)
        {
            if (!_currentLeases.TryGetValue(name, out HashSet<string>? current) || !current.Contains(lease.Id))
            {
                return KheishError.Unauthorized("lease_not_current", $"lease `{lease.Id}` does not belong to the running sidecar of `{name}` (it was stopped or restarted)");
            }
        }

        return (definition, lease);
    }

    private Result<ConnectorDefinition> IngressSource(ConnectorDefinition sidecar)
    {
        if (sidecar.IngressFrom is not { } from)
        {
            return KheishError.Conflict("no_ingress_from", $"connector `external/{sidecar.Name}` declares no `ingress_from`");
        }

        foreach (ConnectorKind kind in (ConnectorKind[])[ConnectorKind.Slack, ConnectorKind.Telegram, ConnectorKind.Http])
        {
            if (Store.Get(kind, from) is { } source)
            {
                return source;
            }
        }

        return KheishError.NotFound("unknown_connector", $"`ingress_from` names `{from}`, but no http, slack or telegram connector has that name");
    }

    private Result<string> Resolve(ConnectorSecret secret, string what)
    {
        if (secret.SlotId is { } slot)
        {
            if (_broker.CheckSlot(slot) is { } revoked)
            {
                return revoked;
            }

            return SlotId.Parse(slot).TryGetValue(out SlotId id, out _) && _slots.Get(id)?.SecretValue() is { Length: > 0 } value
                ? value
                : KheishError.Unavailable("credential_unavailable", $"{what}: slot {slot} is missing or holds no single secret value");
        }

        return secret.Env is { } variable && _environment(variable) is { Length: > 0 } fromEnv
            ? fromEnv
            : KheishError.Unavailable("credential_unavailable", $"{what}: the daemon's environment variable {secret.Env} is not set");
    }

    private static KheishError UnknownConnector(ConnectorKind kind, string name) =>
        KheishError.NotFound("unknown_connector", $"no connector `{kind.Name()}/{ConnectorName.Printable(name)}`");

    public async ValueTask DisposeAsync()
    {
        List<SidecarSupervisor> all;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            all = [.. _sidecars.Values];
            _sidecars.Clear();
            _currentLeases.Clear();
        }

        await Task.WhenAll(all.Select(s => s.DisposeAsync().AsTask())).ConfigureAwait(false);
        _spawner?.Dispose();
        _platform.Dispose();
    }

    private static string Digest(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string Utf8(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);
}
