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
/// <item>Revocations (subject, lease, slot) and slot rewrites are written to the state file
/// (atomic, fsync) before the call returns, and take effect in memory first, so the very
/// next validation refuses.</item>
/// <item>Issued leases are persisted lazily (with the next revocation or <see cref="Flush"/>):
/// after a crash an unpersisted lease is unknown, hence invalid (fail closed).</item>
/// <item>Expired leases, their grants and spent lease revocations are pruned in memory and on
/// every write, so the file stays bounded by the live leases and the tombstones.</item>
/// </list>
/// Thread-safe: one short lock guards the maps; file writes are serialised by a second lock
/// and a version counter, so a writer whose change is already on disk does not write again.
/// </summary>
internal sealed class CredentialBroker : ISubjectRevocationView
{
    private const int MinPruneThreshold = 1024;

    private readonly Lock _gate = new();
    private readonly Lock _persistGate = new();
    private readonly string _path;
    private readonly IStateFileCodec _codec;
    private readonly TimeProvider _clock;

    private readonly Dictionary<string, LeaseEntry> _leases = new(StringComparer.Ordinal);
    private readonly Dictionary<LeaseToken.Key, LeaseEntry> _byDigest = [];
    private readonly Dictionary<string, CredentialGrant> _grants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _epochs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _revokedSubjects = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _revokedLeases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _revokedSlots = new(StringComparer.Ordinal);

    private long _version;
    private long _durableVersion;
    private int _pruneThreshold = MinPruneThreshold;

    private CredentialBroker(string path, IStateFileCodec codec, TimeProvider clock)
    {
        _path = path;
        _codec = codec;
        _clock = clock;
    }

    /// <summary>The state file this broker reads and writes.</summary>
    public string StatePath => _path;

    /// <summary>True when the state file is written in clear (no master key).</summary>
    public bool IsPlainStorage => _codec.IsPlain;

    public static Result<CredentialBroker> Open(StateRoot root, IStateFileCodec codec, TimeProvider? clock = null) =>
        Open(root.BrokerStateFile, codec, clock ?? TimeProvider.System);

    /// <summary>Loads the state file (a missing file is an empty broker) or fails naming the file.</summary>
    public static Result<CredentialBroker> Open(string path, IStateFileCodec codec, TimeProvider clock)
    {
        var broker = new CredentialBroker(path, codec, clock);
        byte[]? file;
        try
        {
            file = AtomicFile.ReadOrNull(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Unreadable(path, "it cannot be read");
        }

        if (file is null)
        {
            return broker;
        }

        if (!codec.Decode(file, BrokerState.Purpose).TryGetValue(out byte[]? json, out KheishError? decodeError))
        {
            return decodeError;
        }

        BrokerState? state;
        try
        {
            state = JsonSerializer.Deserialize(json, BrokerJsonContext.Default.BrokerState);
        }
        catch (JsonException)
        {
            return Unreadable(path, "it is not a valid broker state document");
        }

        if (state is null || state.Version != BrokerState.CurrentVersion)
        {
            return Unreadable(path, $"its version is not {BrokerState.CurrentVersion}");
        }

        KheishError? loadError = broker.Load(state);
        return loadError is null ? broker : loadError;
    }

    // ---- issue -------------------------------------------------------------------------

    /// <summary>A lease for the egress proxy on <paramref name="routeId"/> backed by <paramref name="slotId"/>.</summary>
    public Result<IssuedLease> IssueRouteLease(
        SubjectId subject, CredentialScope effectiveScope, string routeId, string slotId, TimeSpan? ttl = null)
    {
        if ((BrokerIds.Check(routeId, "route id") ?? BrokerIds.Check(slotId, "slot id")) is { } idError)
        {
            return idError;
        }

        if (!effectiveScope.AllowsRoute(routeId))
        {
            return BrokerErrors.NotAllowed(subject.Value, $"route `{routeId}`");
        }

        return Issue(subject, effectiveScope, new RouteAudience(routeId, slotId), ttl);
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

    /// <summary>A lease for calls to MCP server <paramref name="server"/> with the slot's OAuth scopes.</summary>
    public Result<IssuedLease> IssueMcpLease(
        SubjectId subject,
        CredentialScope effectiveScope,
        string server,
        string slotId,
        IEnumerable<string> oauthScopes,
        TimeSpan? ttl = null)
    {
        if ((BrokerIds.Check(server, "mcp server name") ?? BrokerIds.Check(slotId, "slot id")) is { } idError)
        {
            return idError;
        }

        if (!effectiveScope.AllowsMcpServer(server))
        {
            return BrokerErrors.NotAllowed(subject.Value, $"MCP server `{server}`");
        }

        return Issue(subject, effectiveScope, new McpServerAudience(server, slotId, McpServerAudience.HashScopes(oauthScopes)), ttl);
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

    private Result<IssuedLease> Issue(SubjectId subject, CredentialScope scope, CredentialAudience audience, TimeSpan? ttl)
    {
        if (!ClampTtl(audience.MaxTtl, ttl).TryGetValue(out TimeSpan lifetime, out KheishError? ttlError))
        {
            return ttlError;
        }

        string token = LeaseToken.New();
        byte[] digest = LeaseToken.Digest(token);
        long now = NowMs();
        var grant = new CredentialGrant(NewGrantId(), subject.Value, scope.IsEmpty ? null : scope, audience, now);
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
                LeaseId.New(audience.LeasePrefix).Value,
                grant.Id,
                subject.Value,
                _epochs.GetValueOrDefault(subject.Value),
                audience,
                now,
                now + (long)lifetime.TotalMilliseconds);
            var entry = new LeaseEntry(lease, digest);
            _leases.Add(lease.Id, entry);
            _byDigest.Add(entry.Key, entry);
            _grants.Add(grant.Id, grant);
            _version++;
            if (_leases.Count > _pruneThreshold)
            {
                PruneLocked(now);
                _pruneThreshold = Math.Max(MinPruneThreshold, _leases.Count * 2);
            }
        }

        return new IssuedLease(lease, grant, token);
    }

    // ---- validate ----------------------------------------------------------------------

    /// <summary>
    /// The lease behind <paramref name="token"/> if it may be spent on <paramref name="expected"/>
    /// now; otherwise one reason: lease_unknown, lease_revoked, subject_revoked,
    /// subject_epoch_stale, slot_revoked, lease_expired or audience_mismatch (checked in that order).
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
        long version;
        long epoch;
        var revoked = new List<string>();
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
                    revoked.Add(lease.Id);
                }
            }

            version = ++_version;
        }

        revoked.Sort(StringComparer.Ordinal);
        return Persist(version, $"revocation of subject `{subject.Value}`") is { } error
            ? error
            : new SubjectRevocation(subject.Value, epoch, revoked);
    }

    /// <summary>
    /// Bumps the subject's epoch without tombstoning it: every lease issued so far becomes
    /// stale (subject_epoch_stale) while new ones may be issued. Durable before it returns.
    /// </summary>
    public Result<long> BumpSubjectEpoch(SubjectId subject)
    {
        long version;
        long epoch;
        lock (_gate)
        {
            epoch = _epochs.GetValueOrDefault(subject.Value) + 1;
            _epochs[subject.Value] = epoch;
            version = ++_version;
        }

        return Persist(version, $"epoch change of subject `{subject.Value}`") is { } error ? error : epoch;
    }

    /// <summary>Revokes one lease until it expires; durable before it returns. Idempotent.</summary>
    public Result<LeaseStatus> RevokeLease(LeaseId leaseId)
    {
        long version;
        LeaseStatus status;
        lock (_gate)
        {
            if (!_leases.TryGetValue(leaseId.Value, out LeaseEntry? entry))
            {
                return BrokerErrors.NoSuchLease(leaseId.Value);
            }

            _revokedLeases.TryAdd(leaseId.Value, entry.Lease.ExpiresAtMs);
            version = ++_version;
            status = StatusLocked(entry.Lease, NowMs());
        }

        return Persist(version, $"revocation of lease `{leaseId.Value}`") is { } error ? error : status;
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

        long version;
        var revoked = new List<string>();
        long now = NowMs();
        lock (_gate)
        {
            _revokedSlots.TryAdd(slotId, now);
            foreach (LeaseEntry entry in _leases.Values)
            {
                CredentialLease lease = entry.Lease;
                if (lease.Audience.UsesSlot(slotId) && lease.ExpiresAtMs > now && _revokedLeases.TryAdd(lease.Id, lease.ExpiresAtMs))
                {
                    revoked.Add(lease.Id);
                }
            }

            version = ++_version;
        }

        revoked.Sort(StringComparer.Ordinal);
        return Persist(version, $"revocation of slot `{slotId}`") is { } error ? error : new SlotRevocation(slotId, revoked);
    }

    /// <summary>
    /// The secret store calls this after a slot is written again: the tombstone is lifted
    /// (durably). Leases revoked with the slot stay revoked. Returns whether a tombstone was lifted.
    /// </summary>
    public Result<bool> OnSlotRewritten(string slotId)
    {
        long version;
        lock (_gate)
        {
            if (!_revokedSlots.Remove(slotId))
            {
                return false;
            }

            version = ++_version;
        }

        return Persist(version, $"rewrite of slot `{slotId}`") is { } error ? error : true;
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
            return _grants.TryGetValue(grantId, out CredentialGrant? grant)
                ? grant
                : KheishError.NotFound("grant_not_found", $"grant `{grantId}` is not known");
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

    /// <summary>Writes lazily-issued leases (and prunes) when anything changed since the last write.</summary>
    public KheishError? Flush()
    {
        long version;
        lock (_gate)
        {
            version = _version;
        }

        return Persist(version, "flush of issued leases");
    }

    /// <summary>Drops expired leases, their grants and spent lease revocations from memory.</summary>
    public int Prune()
    {
        lock (_gate)
        {
            return PruneLocked(NowMs());
        }
    }

    private KheishError? Persist(long version, string what)
    {
        lock (_persistGate)
        {
            if (Volatile.Read(ref _durableVersion) >= version)
            {
                return null;
            }

            BrokerState snapshot;
            long snapshotVersion;
            lock (_gate)
            {
                PruneLocked(NowMs());
                snapshot = SnapshotLocked();
                snapshotVersion = _version;
            }

            byte[] json = JsonSerializer.SerializeToUtf8Bytes(snapshot, BrokerJsonContext.Default.BrokerState);
            try
            {
                AtomicFile.Write(_path, _codec.Encode(json, BrokerState.Purpose));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return KheishError.Unavailable(
                    BrokerErrors.StateUnavailable,
                    $"the {what} is in effect in this process but could not be written to {_path} ({ex.GetType().Name}); " +
                    "fix the state root's permissions or free space and retry");
            }

            Volatile.Write(ref _durableVersion, snapshotVersion);
            return null;
        }
    }

    private BrokerState SnapshotLocked()
    {
        var state = new BrokerState();
        foreach (LeaseEntry entry in _leases.Values)
        {
            CredentialLease l = entry.Lease;
            var stored = new StoredLease(
                l.Id, l.GrantId, l.SubjectId, l.SubjectEpoch, LeaseToken.Encode(entry.Digest), l.Audience, l.IssuedAtMs, l.ExpiresAtMs);
            (l.Audience switch
            {
                RouteAudience => state.IssuedRouteLeases,
                ConnectorAudience => state.IssuedConnectorLeases,
                _ => state.IssuedMcpLeases,
            }).Add(l.Id, stored);
            if (_grants.TryGetValue(l.GrantId, out CredentialGrant? grant))
            {
                state.IssuedGrants[grant.Id] = grant;
            }
        }

        Copy(_epochs, state.SubjectEpochs);
        Copy(_revokedSubjects, state.RevokedSubjects);
        Copy(_revokedLeases, state.RevokedLeases);
        Copy(_revokedSlots, state.RevokedSlots);
        return state;
    }

    private KheishError? Load(BrokerState state)
    {
        foreach (var map in new[] { state.IssuedRouteLeases, state.IssuedConnectorLeases, state.IssuedMcpLeases })
        {
            foreach (var (id, stored) in map)
            {
                if (!string.Equals(id, stored.Id, StringComparison.Ordinal)
                    || !LeaseId.TryParse(stored.Id, out _)
                    || stored.Audience is null
                    || !stored.Id.StartsWith(stored.Audience.LeasePrefix, StringComparison.Ordinal)
                    || !LeaseToken.TryDecode(stored.TokenDigest, out byte[] digest))
                {
                    return Unreadable(_path, $"lease entry `{id}` is malformed");
                }

                var entry = new LeaseEntry(
                    new CredentialLease(stored.Id, stored.GrantId, stored.SubjectId, stored.SubjectEpoch, stored.Audience,
                        stored.IssuedAtMs, stored.ExpiresAtMs),
                    digest);
                if (!_leases.TryAdd(entry.Lease.Id, entry) || !_byDigest.TryAdd(entry.Key, entry))
                {
                    return Unreadable(_path, $"lease entry `{id}` is duplicated");
                }
            }
        }

        Copy(state.IssuedGrants, _grants);
        Copy(state.SubjectEpochs, _epochs);
        Copy(state.RevokedSubjects, _revokedSubjects);
        Copy(state.RevokedLeases, _revokedLeases);
        Copy(state.RevokedSlots, _revokedSlots);
        PruneLocked(NowMs());
        return null;
    }

    private int PruneLocked(long now)
    {
        List<string>? expired = null;
        foreach (LeaseEntry entry in _leases.Values)
        {
            if (entry.Lease.ExpiresAtMs <= now)
            {
                (expired ??= []).Add(entry.Lease.Id);
            }
        }

        foreach (string id in expired ?? [])
        {
            LeaseEntry entry = _leases[id];
            _leases.Remove(id);
            _byDigest.Remove(entry.Key);
            _grants.Remove(entry.Lease.GrantId);
        }

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

        if (_grants.Count > _leases.Count)
        {
            // Grants left behind by a file written elsewhere: keep only those a lease still names.
            var named = new HashSet<string>(_leases.Values.Select(e => e.Lease.GrantId), StringComparer.Ordinal);
            foreach (string id in _grants.Keys.Where(g => !named.Contains(g)).ToList())
            {
                _grants.Remove(id);
            }
        }

        int pruned = (expired?.Count ?? 0) + (spent?.Count ?? 0);
        if (pruned > 0)
        {
            _version++;
        }

        return pruned;
    }

    private KheishError? RefusalLocked(CredentialLease lease, long now)
    {
        if (_revokedLeases.ContainsKey(lease.Id))
        {
            return BrokerErrors.Revoked(lease.Id);
        }

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

        return lease.ExpiresAtMs <= now ? BrokerErrors.Expired(lease.Id) : null;
    }

    private LeaseStatus StatusLocked(CredentialLease lease, long now) =>
        new(lease, _revokedLeases.ContainsKey(lease.Id), RefusalLocked(lease, now) is null);

    private long NowMs() => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    private static string NewGrantId() => "grant-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

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

    private static KheishError Unreadable(string path, string why) =>
        KheishError.Misconfigured(
            "broker_state_unreadable",
            $"the broker state file {path} is unusable: {why}. Restore it from a backup; deleting it forgets every revocation.");

    private sealed class LeaseEntry
    {
        public LeaseEntry(CredentialLease lease, byte[] digest)
        {
            Lease = lease;
            Digest = digest;
            Key = LeaseToken.Key.From(digest);
        }

        public CredentialLease Lease { get; }

        public byte[] Digest { get; }

        public LeaseToken.Key Key { get; }
    }
}
