using System.Security.Cryptography;
using System.Text.Json;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Broker;

/// <summary>
/// Issues, validates and revokes credential leases (DESIGN.md "Broker", Kheish reference §2).
/// <list type="bullet">
/// <item>Tokens are shown once; only their SHA-256 digest is kept, looked up by a digest map
/// and compared in constant time.</item>
/// <item>Revocations (subject, lease, slot), epoch bumps and slot rewrites take effect in
/// memory first, so the very next validation refuses, and are appended to the journal and
/// fsynced before the call returns (<see cref="BrokerStateStore"/>).</item>
/// <item>Issued leases are persisted lazily (by <see cref="Flush"/>, which the host calls
/// periodically and at shutdown, or by a journal compaction): after a crash an unpersisted
/// lease is unknown, hence invalid (fail closed).</item>
/// <item>Expired leases (with their grants) leave memory through an expiry queue, a few per
/// issue, so no call ever scans the whole map; spent lease revocations are pruned at each
/// compaction, so the files stay bounded by the live leases and the tombstones.</item>
/// </list>
/// Thread-safe: one short lock guards the maps; durable changes are serialised by a second
/// lock taken first, so the journal order is the order the changes took effect in memory.
/// </summary>
internal sealed class CredentialBroker : ISubjectRevocationView, IDisposable
{
    /// <summary>Journal records after which a revocation also compacts (rewrites the snapshot).</summary>
    public const int CompactEvery = 256;

    private const int PrunePerIssue = 2;

    private readonly Lock _gate = new();
    private readonly Lock _persistGate = new();
    private readonly BrokerStateStore _store;
    private readonly IStateFileCodec _codec;
    private readonly TimeProvider _clock;

    private readonly Dictionary<string, LeaseEntry> _leases = new(StringComparer.Ordinal);
    private readonly Dictionary<LeaseToken.Key, LeaseEntry> _byDigest = [];
    private readonly PriorityQueue<LeaseEntry, long> _expiry = new();
    private readonly Dictionary<string, long> _epochs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _revokedSubjects = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _revokedLeases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _revokedSlots = new(StringComparer.Ordinal);

    /// <summary>Leases issued or pruned since the last snapshot: <see cref="Flush"/> has work to do.</summary>
    private bool _dirty;

    private CredentialBroker(string path, IStateFileCodec codec, TimeProvider clock)
    {
        _store = new BrokerStateStore(path, codec);
        _codec = codec;
        _clock = clock;
    }

    /// <summary>The snapshot file this broker reads and writes.</summary>
    public string StatePath => _store.SnapshotPath;

    /// <summary>The journal of durable changes beside the snapshot.</summary>
    public string JournalPath => _store.JournalPath;

    /// <summary>True when the state file is written in clear (no master key).</summary>
    public bool IsPlainStorage => _codec.IsPlain;

    public static Result<CredentialBroker> Open(StateRoot root, IStateFileCodec codec, TimeProvider? clock = null) =>
        Open(root.BrokerStateFile, codec, clock ?? TimeProvider.System);

    /// <summary>Loads the snapshot and replays the journal (missing files = an empty broker), or fails naming the file.</summary>
    public static Result<CredentialBroker> Open(string path, IStateFileCodec codec, TimeProvider clock)
    {
        var broker = new CredentialBroker(path, codec, clock);
        if (!broker._store.Load().TryGetValue(out var loaded, out KheishError? error)
            || (error = broker.Load(loaded.State, loaded.Journal)) is not null)
        {
            broker.Dispose();
            return error;
        }

        return broker;
    }

    // ---- issue -------------------------------------------------------------------------

    /// <summary>
    /// A lease on route <paramref name="routeId"/> backed by <paramref name="slotId"/>, for a holder
    /// that presents it later. (The egress proxy spends its route lease at once: <see cref="SpendRouteLease"/>.)
    /// </summary>
    public Result<IssuedLease> IssueRouteLease(
        SubjectId subject, CredentialScope effectiveScope, string routeId, string slotId, TimeSpan? ttl = null) =>
        RouteLease(subject, effectiveScope, routeId, slotId, ttl, spend: false);

    /// <summary>
    /// A route lease issued and spent in one step, for a caller that would otherwise issue an
    /// in-process lease and validate it at once (the egress proxy, per request): the same checks
    /// (scope, revoked subject and slot) under the same lock, but the lease never enters the
    /// lease table, so nothing can present it, list it or revoke it later, and nothing is kept
    /// (per-request leases held for their TTL were the proxy's largest mid-life allocation:
    /// ~30,000 live at 6k req/s, promoted and collected late). <see cref="IssuedLease.Token"/> is empty.
    /// </summary>
    public Result<IssuedLease> SpendRouteLease(SubjectId subject, CredentialScope effectiveScope, string routeId, string slotId, TimeSpan? ttl = null) =>
        RouteLease(subject, effectiveScope, routeId, slotId, ttl, spend: true);

    private Result<IssuedLease> RouteLease(
        SubjectId subject, CredentialScope effectiveScope, string routeId, string slotId, TimeSpan? ttl, bool spend)
    {
        if ((BrokerIds.Check(routeId, "route id") ?? BrokerIds.Check(slotId, "slot id")) is { } idError)
        {
            return idError;
        }

        if (!effectiveScope.AllowsRoute(routeId))
        {
            return BrokerErrors.NotAllowed(subject.Value, $"route `{routeId}`");
        }

        return Issue(subject, effectiveScope, new RouteAudience(routeId, slotId), ttl, spend: spend);
    }

    /// <summary>
    /// A lease for an external connector sidecar to fetch <paramref name="envKeys"/>; the
    /// connector and every <c>connector:ENV_KEY</c> credential must be allowed by the scope.
    /// </summary>
    public Result<IssuedLease> IssueConnectorLease(
        SubjectId subject,
        CredentialScope effectiveScope,
        string connector,
        IReadOnlyList<string> envKeys,
        IReadOnlyList<string> secretRefs,
        TimeSpan? ttl = null)
    {
        if (BrokerIds.Check(connector, "connector name") is { } connectorError)
        {
            return connectorError;
        }

        foreach (string key in envKeys)
        {
            if (BrokerIds.Check(key, "env key") is { } keyError)
            {
                return keyError;
            }
        }

        foreach (string secretRef in secretRefs)
        {
            if (BrokerIds.Check(secretRef, "slot id") is { } refError)
            {
                return refError;
            }
        }

        if (!effectiveScope.AllowsConnector(connector))
        {
            return BrokerErrors.NotAllowed(subject.Value, $"connector `{connector}`");
        }

        foreach (string key in envKeys)
        {
            if (!effectiveScope.AllowsConnectorCredential(connector, key))
            {
                return BrokerErrors.NotAllowed(subject.Value, $"connector credential `{connector}:{key}`");
            }
        }

        return Issue(subject, effectiveScope, new ConnectorAudience(connector, [.. envKeys], [.. secretRefs]), ttl);
    }

    /// <summary>
    /// A lease for calls to MCP server <paramref name="server"/> with the slot's OAuth scopes.
    /// An <paramref name="inProcess"/> lease never leaves this process (the gateway issues and spends
    /// it itself: an OAuth upstream's token, checked against the account before it is spent): it is
    /// kept in memory only, never written to the state file, since after a restart nobody can
    /// present it. Revoking it is still durable, like every revocation. A lease spent on the line it is
    /// issued goes through <see cref="SpendMcpLease"/> instead.
    /// </summary>
    public Result<IssuedLease> IssueMcpLease(
        SubjectId subject,
        CredentialScope effectiveScope,
        string server,
        string slotId,
        IEnumerable<string> oauthScopes,
        TimeSpan? ttl = null,
        bool inProcess = false) =>
        McpLease(subject, effectiveScope, server, slotId, oauthScopes, ttl, inProcess, spend: false);

    /// <summary>An MCP lease issued and spent in one step (the gateway, per tool call); as <see cref="SpendRouteLease"/>.</summary>
    public Result<IssuedLease> SpendMcpLease(
        SubjectId subject, CredentialScope effectiveScope, string server, string slotId, IEnumerable<string> oauthScopes, TimeSpan? ttl = null) =>
        McpLease(subject, effectiveScope, server, slotId, oauthScopes, ttl, inProcess: false, spend: true);

    private Result<IssuedLease> McpLease(
        SubjectId subject, CredentialScope effectiveScope, string server, string slotId, IEnumerable<string> oauthScopes, TimeSpan? ttl, bool inProcess, bool spend)
    {
        if ((BrokerIds.Check(server, "mcp server name") ?? BrokerIds.Check(slotId, "slot id")) is { } idError)
        {
            return idError;
        }

        if (!effectiveScope.AllowsMcpServer(server))
        {
            return BrokerErrors.NotAllowed(subject.Value, $"MCP server `{server}`");
        }

        return Issue(subject, effectiveScope, new McpServerAudience(server, slotId, McpServerAudience.HashScopes(oauthScopes)), ttl, inProcess, spend);
    }

    /// <summary>
    /// The lifetime a caller gets: its request, at least one second, never more than the
    /// audience's maximum (route 60 s, MCP 60 s, connector 300 s). Zero or negative is refused.
    /// </summary>
    public static Result<TimeSpan> ClampTtl(TimeSpan max, TimeSpan? requested)
    {
        if (requested is not { } ttl)
        {
            return max;
        }

        if (ttl <= TimeSpan.Zero)
        {
            return KheishError.BadRequest("invalid_ttl", "a lease ttl must be positive");
        }

        TimeSpan min = TimeSpan.FromSeconds(1);
        return ttl < min ? min : ttl > max ? max : ttl;
    }

    /// <param name="spend">Checked and returned but never stored (no token; <paramref name="inProcess"/> is then moot).</param>
    private Result<IssuedLease> Issue(SubjectId subject, CredentialScope scope, CredentialAudience audience, TimeSpan? ttl, bool inProcess = false, bool spend = false)
    {
        if (!ClampTtl(audience.MaxTtl, ttl).TryGetValue(out TimeSpan lifetime, out KheishError? ttlError))
        {
            return ttlError;
        }

        // One CSPRNG call for the token and both ids (a lease spent at once has no token).
        Span<byte> random = stackalloc byte[LeaseToken.TokenBytes + 32];
        RandomNumberGenerator.Fill(random);
        string token = spend ? "" : LeaseToken.FromRandom(random[..LeaseToken.TokenBytes]);
        byte[] digest = spend ? [] : LeaseToken.Digest(token);
        string leaseId = audience.LeasePrefix + Convert.ToHexStringLower(random.Slice(LeaseToken.TokenBytes, 16));
        string grantId = "grant-" + Convert.ToHexStringLower(random.Slice(LeaseToken.TokenBytes + 16, 16));
        CryptographicOperations.ZeroMemory(random);
        long now = NowMs();
        var grant = new CredentialGrant(grantId, subject.Value, scope.IsEmpty ? null : scope, audience, now);
        CredentialLease lease;
        lock (_gate)
        {
            if (_revokedSubjects.ContainsKey(subject.Value))
            {
                return BrokerErrors.SubjectWasRevoked(subject.Value);
            }

            foreach (string slot in audience.SlotIds())
            {
                if (_revokedSlots.ContainsKey(slot))
                {
                    return BrokerErrors.SlotWasRevoked(slot);
                }
            }

            lease = new CredentialLease(
                leaseId,
                grant.Id,
                subject.Value,
                _epochs.GetValueOrDefault(subject.Value),
                audience,
                now,
                now + (long)lifetime.TotalMilliseconds);
            if (!spend)
            {
                AddLocked(new LeaseEntry(lease, grant, digest) { InProcess = inProcess });
                _dirty |= !inProcess;
            }

            PruneExpiredLocked(now, PrunePerIssue);
        }

        return new IssuedLease(lease, grant, token);
    }

    // ---- validate ----------------------------------------------------------------------

    /// <summary>
    /// The lease behind <paramref name="token"/> if it may be spent on <paramref name="expected"/>
    /// now; otherwise one reason: lease_unknown, subject_revoked, subject_epoch_stale,
    /// slot_revoked, lease_revoked, lease_expired or audience_mismatch (checked in that order).
    /// </summary>
    public Result<CredentialLease> Validate(string token, CredentialAudience expected)
    {
        Span<byte> digest = stackalloc byte[LeaseToken.DigestBytes];
        if (!LeaseToken.TryDigest(token, digest))
        {
            return BrokerErrors.Unknown();
        }

        var key = LeaseToken.Key.From(digest);
        long now = NowMs();
        CredentialLease lease;
        lock (_gate)
        {
            if (!_byDigest.TryGetValue(key, out LeaseEntry? entry)
                || !CryptographicOperations.FixedTimeEquals(entry.Digest, digest))
            {
                return BrokerErrors.Unknown();
            }

            lease = entry.Lease;
            if (RefusalLocked(lease, now) is { } refusal)
            {
                return refusal;
            }
        }

        return lease.Audience.Covers(expected) ? lease : BrokerErrors.WrongAudience(lease.Id);
    }

    /// <summary>A connector sidecar fetching one credential: <c>GET .../{connector}/credentials/{env_key}</c>.</summary>
    public Result<CredentialLease> ValidateConnectorCredential(string token, string connector, string envKey) =>
        Validate(token, new ConnectorAudience(connector, [envKey], []));

    /// <summary>Raised once a slot revocation is durable (with the slot id); holders of the slot's value stop using it.</summary>
    public event Action<string>? SlotRevoked;

    /// <summary>Raised once a subject revocation is durable.</summary>
    public event Action<SubjectId>? SubjectRevoked;

    /// <summary>Fails with slot_revoked while <paramref name="slotId"/> is tombstoned: every resolve checks this.</summary>
    public KheishError? CheckSlot(string slotId)
    {
        lock (_gate)
        {
            return _revokedSlots.ContainsKey(slotId) ? BrokerErrors.SlotWasRevoked(slotId) : null;
        }
    }

    public bool IsSubjectRevoked(SubjectId subject)
    {
        lock (_gate)
        {
            return _revokedSubjects.ContainsKey(subject.Value);
        }
    }

    // ---- revoke ------------------------------------------------------------------------

    /// <summary>
    /// Tombstones the subject for good, bumps its epoch and revokes its unexpired leases;
    /// durable before it returns. Revoking a subject that has no lease yet is allowed.
    /// </summary>
    public Result<SubjectRevocation> RevokeSubject(SubjectId subject)
    {
        lock (_persistGate)
        {
            long epoch;
            var revoked = new Dictionary<string, long>(StringComparer.Ordinal);
            long now = NowMs();
            lock (_gate)
            {
                epoch = _epochs.GetValueOrDefault(subject.Value) + 1;
                _epochs[subject.Value] = epoch;
                _revokedSubjects.TryAdd(subject.Value, now);
                foreach (LeaseEntry entry in _leases.Values)
                {
                    CredentialLease lease = entry.Lease;
                    if (string.Equals(lease.SubjectId, subject.Value, StringComparison.Ordinal)
                        && lease.ExpiresAtMs > now
                        && _revokedLeases.TryAdd(lease.Id, lease.ExpiresAtMs))
                    {
                        revoked.Add(lease.Id, lease.ExpiresAtMs);
                    }
                }
            }

            var record = new BrokerJournalRecord(BrokerJournalRecord.RevokeSubject, now, SubjectId: subject.Value, Epoch: epoch, RevokedLeases: revoked);
            if (AppendLocked(record, $"revocation of subject `{subject.Value}`") is { } error)
            {
                return error;
            }

            SubjectRevoked?.Invoke(subject);
            return new SubjectRevocation(subject.Value, epoch, [.. revoked.Keys.Order(StringComparer.Ordinal)]);
        }
    }

    /// <summary>
    /// Bumps the subject's epoch without tombstoning it: every lease issued so far becomes
    /// stale (subject_epoch_stale) while new ones may be issued. Durable before it returns.
    /// </summary>
    public Result<long> BumpSubjectEpoch(SubjectId subject)
    {
        lock (_persistGate)
        {
            long epoch;
            lock (_gate)
            {
                epoch = _epochs.GetValueOrDefault(subject.Value) + 1;
                _epochs[subject.Value] = epoch;
            }

            var record = new BrokerJournalRecord(BrokerJournalRecord.SubjectEpoch, NowMs(), SubjectId: subject.Value, Epoch: epoch);
            return AppendLocked(record, $"epoch change of subject `{subject.Value}`") is { } error ? error : epoch;
        }
    }

    /// <summary>Revokes one lease until it expires; durable before it returns. Idempotent.</summary>
    public Result<LeaseStatus> RevokeLease(LeaseId leaseId)
    {
        lock (_persistGate)
        {
            LeaseStatus status;
            long now = NowMs();
            lock (_gate)
            {
                if (!_leases.TryGetValue(leaseId.Value, out LeaseEntry? entry))
                {
                    return BrokerErrors.NoSuchLease(leaseId.Value);
                }

                _revokedLeases.TryAdd(leaseId.Value, entry.Lease.ExpiresAtMs);
                status = StatusLocked(entry.Lease, now);
            }

            var record = new BrokerJournalRecord(
                BrokerJournalRecord.RevokeLease, now, RevokedLeases: new(StringComparer.Ordinal) { [leaseId.Value] = status.Lease.ExpiresAtMs });
            return AppendLocked(record, $"revocation of lease `{leaseId.Value}`") is { } error ? error : status;
        }
    }

    /// <summary>
    /// Revokes every unexpired lease drawing on <paramref name="slotId"/> and tombstones the
    /// slot until <see cref="OnSlotRewritten"/>; durable before it returns.
    /// </summary>
    public Result<SlotRevocation> RevokeSlot(string slotId)
    {
        if (BrokerIds.Check(slotId, "slot id") is { } idError)
        {
            return idError;
        }

        lock (_persistGate)
        {
            var revoked = new Dictionary<string, long>(StringComparer.Ordinal);
            long now = NowMs();
            lock (_gate)
            {
                _revokedSlots.TryAdd(slotId, now);
                foreach (LeaseEntry entry in _leases.Values)
                {
                    CredentialLease lease = entry.Lease;
                    if (lease.Audience.UsesSlot(slotId) && lease.ExpiresAtMs > now && _revokedLeases.TryAdd(lease.Id, lease.ExpiresAtMs))
                    {
                        revoked.Add(lease.Id, lease.ExpiresAtMs);
                    }
                }
            }

            var record = new BrokerJournalRecord(BrokerJournalRecord.RevokeSlot, now, SlotId: slotId, RevokedLeases: revoked);
            if (AppendLocked(record, $"revocation of slot `{slotId}`") is { } error)
            {
                return error;
            }

            SlotRevoked?.Invoke(slotId);
            return new SlotRevocation(slotId, [.. revoked.Keys.Order(StringComparer.Ordinal)]);
        }
    }

    /// <summary>
    /// The secret store calls this after a slot is written again: the tombstone is lifted
    /// (durably). Leases revoked with the slot stay revoked. Returns whether a tombstone was lifted.
    /// </summary>
    public Result<bool> OnSlotRewritten(string slotId)
    {
        lock (_persistGate)
        {
            lock (_gate)
            {
                if (!_revokedSlots.Remove(slotId))
                {
                    return false;
                }
            }

            var record = new BrokerJournalRecord(BrokerJournalRecord.SlotRewritten, NowMs(), SlotId: slotId);
            return AppendLocked(record, $"rewrite of slot `{slotId}`") is { } error ? error : true;
        }
    }

    // ---- status ------------------------------------------------------------------------

    public SubjectStatus GetSubjectStatus(SubjectId subject)
    {
        long now = NowMs();
        var route = new List<string>();
        var connector = new List<string>();
        var mcp = new List<string>();
        long epoch;
        bool revoked;
        lock (_gate)
        {
            epoch = _epochs.GetValueOrDefault(subject.Value);
            revoked = _revokedSubjects.ContainsKey(subject.Value);
            foreach (LeaseEntry entry in _leases.Values)
            {
                CredentialLease lease = entry.Lease;
                if (!string.Equals(lease.SubjectId, subject.Value, StringComparison.Ordinal) || RefusalLocked(lease, now) is not null)
                {
                    continue;
                }

                (lease.Audience switch
                {
                    RouteAudience => route,
                    ConnectorAudience => connector,
                    _ => mcp,
                }).Add(lease.Id);
            }
        }

        return new SubjectStatus(subject.Value, epoch, revoked, Sorted(route), Sorted(connector), Sorted(mcp));
    }

    public Result<LeaseStatus> GetLeaseStatus(LeaseId leaseId)
    {
        lock (_gate)
        {
            return _leases.TryGetValue(leaseId.Value, out LeaseEntry? entry)
                ? StatusLocked(entry.Lease, NowMs())
                : BrokerErrors.NoSuchLease(leaseId.Value);
        }
    }

    public Result<CredentialGrant> GetGrant(string grantId)
    {
        lock (_gate)
        {
            foreach (LeaseEntry entry in _leases.Values)
            {
                if (string.Equals(entry.Grant.Id, grantId, StringComparison.Ordinal))
                {
                    return entry.Grant;
                }
            }

            return KheishError.NotFound("grant_not_found", $"grant `{grantId}` is not known");
        }
    }

    /// <summary>Number of leases held in memory (live, or expired and not yet pruned).</summary>
    public int LeaseCount
    {
        get
        {
            lock (_gate)
            {
                return _leases.Count;
            }
        }
    }

    // ---- persistence -------------------------------------------------------------------

    /// <summary>
    /// Writes the snapshot (lazily-issued leases, pruned state) and empties the journal, when
    /// anything changed since the last snapshot. The host calls it periodically and at shutdown.
    /// </summary>
    public KheishError? Flush()
    {
        lock (_persistGate)
        {
            bool pending;
            lock (_gate)
            {
                PruneLocked(NowMs());
                pending = _dirty || _store.JournalRecords > 0;
            }

            return pending ? CompactLocked("flush of issued leases") : null;
        }
    }

    /// <summary>Drops expired leases, their grants and spent lease revocations from memory.</summary>
    public int Prune()
    {
        lock (_gate)
        {
            return PruneLocked(NowMs());
        }
    }

    public void Dispose()
    {
        lock (_persistGate)
        {
            _store.Dispose();
        }
    }

    /// <summary>Caller holds <c>_persistGate</c> (not <c>_gate</c>).</summary>
    private KheishError? AppendLocked(BrokerJournalRecord record, string what)
    {
        try
        {
            _store.Append(record);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // The journal failed: a full snapshot carries the change as well.
            return CompactLocked(what);
        }

        return _store.JournalRecords >= CompactEvery ? CompactLocked(what) : null;
    }

    /// <summary>Caller holds <c>_persistGate</c> (not <c>_gate</c>).</summary>
    private KheishError? CompactLocked(string what)
    {
        BrokerState snapshot;
        lock (_gate)
        {
            PruneLocked(NowMs());
            snapshot = SnapshotLocked();
            _dirty = false;
        }

        try
        {
            _store.Compact(snapshot);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            lock (_gate)
            {
                _dirty = true;
            }

            return KheishError.Unavailable(
                IoReason.IsDiskFull(ex) ? BrokerErrors.StateDiskFull : BrokerErrors.StateUnavailable,
                $"the {what} is in effect in this process but could not be written to {StatePath} ({IoReason.Of(ex)}); " +
                "free space or fix the state root's permissions and retry");
        }
    }

    private BrokerState SnapshotLocked()
    {
        var state = new BrokerState();
        foreach (LeaseEntry entry in _leases.Values)
        {
            if (entry.InProcess)
            {
                continue;
            }

            CredentialLease l = entry.Lease;
            var stored = new StoredLease(
                l.Id, l.GrantId, l.SubjectId, l.SubjectEpoch, LeaseToken.Encode(entry.Digest), l.Audience, l.IssuedAtMs, l.ExpiresAtMs);
            (l.Audience switch
            {
                RouteAudience => state.IssuedRouteLeases,
                ConnectorAudience => state.IssuedConnectorLeases,
                _ => state.IssuedMcpLeases,
            }).Add(l.Id, stored);
            state.IssuedGrants[entry.Grant.Id] = entry.Grant;
        }

        Copy(_epochs, state.SubjectEpochs);
        Copy(_revokedSubjects, state.RevokedSubjects);
        Copy(_revokedLeases, state.RevokedLeases);
        Copy(_revokedSlots, state.RevokedSlots);
        return state;
    }

    private KheishError? Load(BrokerState state, List<BrokerJournalRecord> journal)
    {
        foreach (var map in new[] { state.IssuedRouteLeases, state.IssuedConnectorLeases, state.IssuedMcpLeases })
        {
            foreach (var (id, stored) in map ?? [])
            {
                if (!string.Equals(id, stored.Id, StringComparison.Ordinal)
                    || !LeaseId.TryParse(stored.Id, out _)
                    || stored.Audience is null
                    || !stored.Id.StartsWith(stored.Audience.LeasePrefix, StringComparison.Ordinal)
                    || !LeaseToken.TryDecode(stored.TokenDigest, out byte[] digest)
                    || state.IssuedGrants?.GetValueOrDefault(stored.GrantId) is not { } grant)
                {
                    return BrokerStateStore.Unreadable(StatePath, $"lease entry `{id}` is malformed or has no grant");
                }

                var lease = new CredentialLease(
                    stored.Id, stored.GrantId, stored.SubjectId, stored.SubjectEpoch, stored.Audience, stored.IssuedAtMs, stored.ExpiresAtMs);
                if (_leases.ContainsKey(lease.Id) || !AddLocked(new LeaseEntry(lease, grant, digest)))
                {
                    return BrokerStateStore.Unreadable(StatePath, $"lease entry `{id}` is duplicated");
                }
            }
        }

        Copy(state.SubjectEpochs, _epochs);
        Copy(state.RevokedSubjects, _revokedSubjects);
        Copy(state.RevokedLeases, _revokedLeases);
        Copy(state.RevokedSlots, _revokedSlots);
        foreach (BrokerJournalRecord record in journal)
        {
            if (Replay(record) is { } error)
            {
                return error;
            }
        }

        PruneLocked(NowMs());
        return null;
    }

    private KheishError? Replay(BrokerJournalRecord r)
    {
        foreach (var (id, expiresAtMs) in r.RevokedLeases ?? [])
        {
            _revokedLeases.TryAdd(id, expiresAtMs);
        }

        switch (r.Op)
        {
            case BrokerJournalRecord.RevokeSubject when r.SubjectId is not null && r.Epoch is { } epoch:
                _epochs[r.SubjectId] = Math.Max(epoch, _epochs.GetValueOrDefault(r.SubjectId));
                _revokedSubjects.TryAdd(r.SubjectId, r.AtMs);
                return null;
            case BrokerJournalRecord.SubjectEpoch when r.SubjectId is not null && r.Epoch is { } epoch:
                _epochs[r.SubjectId] = Math.Max(epoch, _epochs.GetValueOrDefault(r.SubjectId));
                return null;
            case BrokerJournalRecord.RevokeLease:
                return null;
            case BrokerJournalRecord.RevokeSlot when r.SlotId is not null:
                _revokedSlots.TryAdd(r.SlotId, r.AtMs);
                return null;
            case BrokerJournalRecord.SlotRewritten when r.SlotId is not null:
                _revokedSlots.Remove(r.SlotId);
                return null;
            default:
                return BrokerStateStore.Unreadable(JournalPath, $"a `{r.Op}` record is incomplete or unknown");
        }
    }

    private bool AddLocked(LeaseEntry entry)
    {
        if (!_byDigest.TryAdd(entry.Key, entry))
        {
            return false;
        }

        _leases.Add(entry.Lease.Id, entry);
        _expiry.Enqueue(entry, entry.Lease.ExpiresAtMs);
        return true;
    }

    /// <summary>Removes up to <paramref name="max"/> expired leases, earliest expiry first.</summary>
    private int PruneExpiredLocked(long now, int max)
    {
        int removed = 0;
        while (removed < max && _expiry.TryPeek(out LeaseEntry? entry, out long expiresAtMs) && expiresAtMs <= now)
        {
            _expiry.Dequeue();
            _leases.Remove(entry.Lease.Id);
            _byDigest.Remove(entry.Key);
            removed++;

            // An in-process lease was never in a snapshot, so dropping it changes nothing on disk.
            _dirty |= !entry.InProcess;
        }

        return removed;
    }

    private int PruneLocked(long now)
    {
        int pruned = PruneExpiredLocked(now, int.MaxValue);
        List<string>? spent = null;
        foreach (var (id, expiresAtMs) in _revokedLeases)
        {
            if (expiresAtMs <= now)
            {
                (spent ??= []).Add(id);
            }
        }

        foreach (string id in spent ?? [])
        {
            _revokedLeases.Remove(id);
        }

        if (spent is not null)
        {
            _dirty = true;
        }

        return pruned + (spent?.Count ?? 0);
    }

    /// <summary>
    /// Why a lease may not be spent now, most specific cause first: a revoked subject or slot
    /// is named as such even though their revocation also revoked the lease itself.
    /// </summary>
    private KheishError? RefusalLocked(CredentialLease lease, long now)
    {
        if (_revokedSubjects.ContainsKey(lease.SubjectId))
        {
            return BrokerErrors.SubjectWasRevoked(lease.SubjectId);
        }

        if (_epochs.GetValueOrDefault(lease.SubjectId) > lease.SubjectEpoch)
        {
            return BrokerErrors.EpochStale(lease.Id, lease.SubjectId);
        }

        foreach (string slot in lease.Audience.SlotIds())
        {
            if (_revokedSlots.ContainsKey(slot))
            {
                return BrokerErrors.SlotWasRevoked(slot);
            }
        }

        if (_revokedLeases.ContainsKey(lease.Id))
        {
            return BrokerErrors.Revoked(lease.Id);
        }

        return lease.ExpiresAtMs <= now ? BrokerErrors.Expired(lease.Id) : null;
    }

    private LeaseStatus StatusLocked(CredentialLease lease, long now) =>
        new(lease, _revokedLeases.ContainsKey(lease.Id), RefusalLocked(lease, now) is null);

    private long NowMs() => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    private static List<string>? Sorted(List<string> ids)
    {
        if (ids.Count == 0)
        {
            return null;
        }

        ids.Sort(StringComparer.Ordinal);
        return ids;
    }

    private static void Copy<T>(Dictionary<string, T>? from, Dictionary<string, T> to)
    {
        foreach (var (k, v) in from ?? [])
        {
            to[k] = v;
        }
    }

    private sealed class LeaseEntry
    {
        public LeaseEntry(CredentialLease lease, CredentialGrant grant, byte[] digest)
        {
            Lease = lease;
            Grant = grant;
            Digest = digest;
            Key = LeaseToken.Key.From(digest);
        }

        public CredentialLease Lease { get; }

        public CredentialGrant Grant { get; }

        public byte[] Digest { get; }

        public LeaseToken.Key Key { get; }

        /// <summary>Issued and spent inside this process: memory only, never in a snapshot.</summary>
        public bool InProcess { get; init; }
    }
}
