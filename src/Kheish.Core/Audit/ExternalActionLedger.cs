using System.Collections.Concurrent;
using System.Text.Json;
using Kheish.Core.Errors;
using Kheish.Core.Storage;
using Kheish.Core.Text;

namespace Kheish.Core.Audit;

/// <summary>
/// The signed, hash-chained, append-only record of every external action (DESIGN.md "Ledger").
/// One chain per bucket; <see cref="AppendAsync"/> completes only after the record is on disk
/// (fdatasync), and concurrent appends to a bucket share one write and one sync (group commit).
/// A bucket that cannot be written or whose tail does not verify is unavailable: its appends fail
/// with <c>audit_unavailable</c> while the other buckets keep working.
/// </summary>
internal sealed class ExternalActionLedger : IAsyncDisposable
{
    public const string UnavailableCode = "audit_unavailable";
    public const string UnavailableMessage = "external action audit unavailable";

    private const int MaxIdLength = 256;
    private const int MaxTargetLength = 2048;

    private readonly ConcurrentDictionary<string, BucketWriter> _buckets = new(StringComparer.Ordinal);

    /// <summary>
    /// Stems of the bucket files that existed at open. Their writers are made on first use
    /// (an append, the background open check), not at open: 10,000 buckets cost 10,000 strings at
    /// start, not 10,000 writers (issue 16).
    /// </summary>
    private readonly HashSet<string> _atOpen;
    private int _newBuckets;
    private readonly Lock _indexLock = new();
    private readonly HashSet<string> _indexBuckets = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _flushSignal = new(0);
    private readonly WorkQueue<BucketWriter> _handOffs = new();
    private readonly List<Thread> _workers = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly FileStream _writerLock;
    private readonly IDisposable? _ownedKey;
    private Task _flushLoop = Task.CompletedTask;
    private Task _openChecks = Task.CompletedTask;
    private int _openChecksStarted;
    private long _openBytes;
    private volatile bool _appendFailed;
    private string? _indexProblem;
    private int _flushRequested;
    private int _openFiles;
    private long _batches;
    private long _records;
    private long _buildTicks;
    private long _syncTicks;
    private long _handedOff;
    private volatile bool _closed;
    private volatile bool _drained;

    private ExternalActionLedger(LedgerPaths paths, Crypto.Ed25519PrivateKey key, LedgerOptions options, FileStream writerLock, IDisposable? ownedKey)
    {
        Paths = paths;
        _atOpen = new HashSet<string>(paths.RecordStemsInDirectoryOrder(), StringComparer.Ordinal);
        Key = key;
        Options = options;
        KeyIdUtf8 = System.Text.Encoding.UTF8.GetBytes(key.PublicKeyHex);
        _writerLock = writerLock;
        _ownedKey = ownedKey;
    }

    public LedgerPaths Paths { get; }

    public string KeyId => Key.PublicKeyHex;

    internal Crypto.Ed25519PrivateKey Key { get; }

    /// <summary><see cref="KeyId"/> as the UTF-8 bytes every record line carries.</summary>
    internal byte[] KeyIdUtf8 { get; }

    internal LedgerOptions Options { get; }

    internal LedgerChecks Checks { get; } = new();

    /// <summary>The transparency log over every record (null when <see cref="LedgerOptions.TransparencyLog"/> is off).</summary>
    public Transparency.TransparencyLog? Log { get; private set; }

    /// <summary>True once every append accepted before the close was written: no bucket file is created after it.</summary>
    internal bool IsDrained => _drained;

    /// <summary>The threads that run handed-off group commits (tests).</summary>
    internal IReadOnlyList<Thread> WriterThreads => _workers;

    /// <summary>Where append time goes, since the ledger was opened (for status pages and benchmarks).</summary>
    public LedgerStats Stats
    {
        get
        {
            long batches = Interlocked.Read(ref _batches);
            long records = Interlocked.Read(ref _records);
            double micros = 1e6 / System.Diagnostics.Stopwatch.Frequency;
            return new LedgerStats(
                batches,
                records,
                batches == 0 ? 0 : (double)records / batches,
                records == 0 ? 0 : Interlocked.Read(ref _buildTicks) * micros / records,
                batches == 0 ? 0 : Interlocked.Read(ref _syncTicks) * micros / batches,
                Interlocked.Read(ref _handedOff));
        }
    }

    /// <summary>Records per group commit (for <c>GET /metrics</c>).</summary>
    public Metrics.Histogram BatchSizes { get; } = new(Metrics.Histogram.BatchSizes);

    /// <summary>Seconds each group commit spent writing and syncing.</summary>
    public Metrics.Histogram BatchWriteSyncSeconds { get; } = new(Metrics.Histogram.LatencySeconds);

    internal void CountBatch(int records, long buildTicks, long writeAndSyncTicks)
    {
        BatchSizes.Observe(records);
        BatchWriteSyncSeconds.Observe((double)writeAndSyncTicks / System.Diagnostics.Stopwatch.Frequency);
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _records, records);
        Interlocked.Add(ref _buildTicks, buildTicks);
        Interlocked.Add(ref _syncTicks, writeAndSyncTicks);
    }

    /// <summary>
    /// Completes once every bucket that existed at open has been loaded (tail and checkpoint
    /// checked) by the background open check or by its first append. Until then an unchecked
    /// bucket is not reported in <see cref="Health"/>; its first append checks it first. With
    /// <see cref="LedgerOptions.DeferOpenChecks"/>, complete (and meaningless) until <see cref="StartOpenChecks"/>.
    /// </summary>
    public Task OpenChecks => _openChecks;

    /// <summary>Bytes of bucket files read to load bucket tails since open (never whole buckets).</summary>
    internal long OpenBytesRead => Interlocked.Read(ref _openBytes);

    internal void CountOpenBytes(long bytes) => Interlocked.Add(ref _openBytes, bytes);

    /// <summary>A write or sync failed: records may be on disk that never reached the transparency log.</summary>
    internal void NoteAppendFailure() => _appendFailed = true;

    /// <summary>Bucket files currently open for appending.</summary>
    internal int OpenFiles => Volatile.Read(ref _openFiles);

    /// <summary>
    /// What <c>serve</c> calls at startup: resolves the signing key (creating the state-root key on
    /// a fresh state root) and opens the ledger. Fails when records exist but the key is gone
    /// (<c>audit_signing_key_missing</c>), when the configured key is not the one that signed the
    /// ledger (<c>audit_signing_key_mismatch</c>), or when the key settings are invalid.
    /// </summary>
    public static Result<ExternalActionLedger> OpenForDaemon(StateRoot root, Func<string, string?> environment, LedgerOptions? options = null)
    {
        Result<AuditSigningKey> resolved = AuditSigningKey.Resolve(root, environment, createIfMissing: true);
        if (!resolved.TryGetValue(out AuditSigningKey? key, out KheishError? error))
        {
            return error;
        }

        var paths = new LedgerPaths(root);
        if (AtomicFile.ReadOrNull(paths.IndexFile) is { } indexBytes
            && LedgerChecks.TryParse(indexBytes, AuditJsonContext.Default.LedgerIndex, out LedgerIndex? index, out _)
            && !string.Equals(index!.KeyId, key.PublicKeyHex, StringComparison.Ordinal))
        {
            key.Dispose();
            return KheishError.Misconfigured(
                "audit_signing_key_mismatch",
                $"the external-action ledger in {paths.RecordsDirectory} is signed by key {LedgerChecks.Printable(index.KeyId)}, " +
                $"but the configured signing key ({key.Source}) is {key.PublicKeyHex}. Configure the key that signed the ledger, " +
                "or move the old ledger directories away to start a new one");
        }

        Result<ExternalActionLedger> ledger = Open(root, key.Key, options, ownedKey: key);
        if (!ledger.IsOk)
        {
            key.Dispose();
        }

        return ledger;
    }

    /// <summary>Opens the ledger for appending with <paramref name="key"/> (the caller keeps ownership).</summary>
    public static Result<ExternalActionLedger> Open(StateRoot root, Crypto.Ed25519PrivateKey key, LedgerOptions? options = null) =>
        Open(root, key, options, ownedKey: null);

    /// <summary>
    /// Records <paramref name="ev"/> and completes once it is durable. The record (with its
    /// <c>action_id</c>) is the receipt. Cancellation is honoured only before the append is queued:
    /// once queued, it is written.
    /// </summary>
    public Task<Result<LedgerRecord>> AppendAsync(ExternalActionEvent ev, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Append(ev, soon: false);
    }

    /// <summary>
    /// Records <paramref name="ev"/>, which nothing waits for (the outcome of a call whose answer
    /// already went out): it joins its bucket's next group commit, or is written and synced on its
    /// own after <see cref="LedgerOptions.SoonDelay"/> when none comes. So under load an outcome
    /// costs no sync and no thread of its own. Completes once it is durable, like
    /// <see cref="AppendAsync"/>; a close writes it first.
    /// </summary>
    public Task<Result<LedgerRecord>> AppendSoonAsync(ExternalActionEvent ev) => Append(ev, soon: true);

    private Task<Result<LedgerRecord>> Append(ExternalActionEvent ev, bool soon)
    {
        if (Validate(ev) is { } invalid)
        {
            return Task.FromResult(Result<LedgerRecord>.Fail(invalid));
        }

        string bucket = BucketName.For(ev.RunId, ev.SessionId);
        if (_closed)
        {
            return Task.FromResult(Result<LedgerRecord>.Fail(Unavailable(bucket, "the ledger is closed")));
        }

        BucketWriter writer = WriterFor(bucket);
        Task<Result<LedgerRecord>> durable = soon ? writer.EnqueueSoon(ev) : writer.Enqueue(ev);
        return Witnesses is { Quorum: > 0 } witnesses ? WitnessedAsync(durable, witnesses) : durable;
    }

    /// <summary>
    /// The bucket's writer, made on first use: one that loads the file's tail for a bucket that
    /// existed at open, a new one otherwise (counted once, by the writer that won the insert).
    /// </summary>
    private BucketWriter WriterFor(string bucket)
    {
        string stem = BucketName.FileStem(bucket);
        if (_buckets.TryGetValue(stem, out BucketWriter? writer))
        {
            return writer;
        }

        bool existed = _atOpen.Contains(stem);
        BucketWriter made = existed ? BucketWriter.Load(this, stem) : BucketWriter.CreateNew(this, stem, bucket);
        writer = _buckets.GetOrAdd(stem, made);
        if (!existed && ReferenceEquals(writer, made))
        {
            Interlocked.Increment(ref _newBuckets);
        }

        return writer;
    }

    /// <summary>
    /// <c>serve --witness-quorum</c>: the witnesses that must cosign a checkpoint covering a record
    /// before its append completes. Null (or quorum 0): appends never wait for witnesses.
    /// </summary>
    internal Transparency.WitnessPusher? Witnesses { get; set; }

    /// <summary>An append that completes once the record is durable and a witness quorum cosigned a checkpoint covering it; fails closed otherwise.</summary>
    private static async Task<Result<LedgerRecord>> WitnessedAsync(Task<Result<LedgerRecord>> durable, Transparency.WitnessPusher witnesses)
    {
        Result<LedgerRecord> record = await durable.ConfigureAwait(false);
        if (!record.IsOk)
        {
            return record;
        }

        return await witnesses.WaitForQuorumAsync().ConfigureAwait(false) is { } refused ? refused : record;
    }

    /// <summary>The ledger's state for readiness and status endpoints.</summary>
    public LedgerHealth Health
    {
        get
        {
            // The dictionary's enumerator takes no lock and copies nothing (Values would do both);
            // a healthy ledger allocates no list.
            List<UnavailableBucket>? unavailable = null;
            foreach (KeyValuePair<string, BucketWriter> entry in _buckets)
            {
                if (entry.Value.UnavailableReason is { } reason)
                {
                    (unavailable ??= []).Add(new UnavailableBucket(entry.Value.Name, reason));
                }
            }

            unavailable?.Sort(static (a, b) => string.CompareOrdinal(a.Bucket, b.Bucket));
            string? indexProblem = Volatile.Read(ref _indexProblem);
            string? logProblem = Log?.Problem;
            int buckets = _atOpen.Count + Volatile.Read(ref _newBuckets);
            return new LedgerHealth(unavailable is null && indexProblem is null && logProblem is null, KeyId, buckets, indexProblem, (IReadOnlyList<UnavailableBucket>?)unavailable ?? [])
            {
                TransparencyLogProblem = logProblem,
            };
        }
    }

    /// <summary>The records of one run's bucket (what <c>GET /v1/runs/{run_id}/external-actions</c> lists).</summary>
    public Result<IReadOnlyList<LedgerRecord>> ReadRun(string runId) => LedgerReader.ReadBucket(Paths, runId);

    public static KheishError Unavailable(string bucket, string reason) =>
        KheishError.Unavailable(UnavailableCode, $"{UnavailableMessage} (bucket {LedgerChecks.Printable(bucket)}: {reason})");

    /// <summary>Drains queued appends, writes final checkpoints and releases the writer lock.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        await _openChecks.ConfigureAwait(false);
        foreach (BucketWriter writer in _buckets.Values)
        {
            // Outcomes appended soon are written now, not when their timer fires.
            writer.WriteSoon();
            await writer.WaitIdleAsync().ConfigureAwait(false);
        }

        _drained = true;
        _handOffs.CompleteAdding();
        foreach (Thread worker in _workers)
        {
            worker.Join();
        }

        // Every acknowledged record has reached the log's queue: sequence it and publish the final
        // checkpoint. After a failed write or sync a record may be on disk without having reached
        // the log, so the close is not marked clean and the next open looks for it.
        Log?.Close(clean: !_appendFailed);

        await _stop.CancelAsync().ConfigureAwait(false);
        await _flushLoop.ConfigureAwait(false);
        FlushCheckpoints();
        foreach (BucketWriter writer in _buckets.Values)
        {
            writer.Dispose();
        }

        await _writerLock.DisposeAsync().ConfigureAwait(false);
        Checks.Dispose();
        _flushSignal.Dispose();
        _stop.Dispose();
        _ownedKey?.Dispose();
    }

    /// <summary>
    /// Gives a bucket's writer role, with the batch it wrote but has not synced, to a ledger
    /// thread, which syncs it and goes on writing until the queue is empty. Writers block in
    /// fdatasync, so they get their own threads rather than the shared pool (which starts with one
    /// thread per core and would have nobody left to resume the appenders).
    /// </summary>
    internal void HandOff(BucketWriter writer)
    {
        Interlocked.Increment(ref _handedOff);
        if (!_handOffs.TryAdd(writer))
        {
            // Closing: the ledger threads are gone; a pool thread drains it (and fails the appends).
            ThreadPool.UnsafeQueueUserWorkItem(static w => w.RunWorker(), writer, preferLocal: false);
        }
    }

    /// <summary>Asks the background loop to rewrite the checkpoints of buckets that grew.</summary>
    internal void RequestCheckpoint()
    {
        if (Interlocked.Exchange(ref _flushRequested, 1) == 0)
        {
            _flushSignal.Release();
        }
    }

    /// <summary>Adds a new bucket to the signed index, durably, before its first record is written.</summary>
    internal void EnsureIndexed(string bucket)
    {
        lock (_indexLock)
        {
            if (_indexProblem is { } problem)
            {
                throw new BucketWriter.BucketUnavailableException($"new buckets cannot be created: {problem}");
            }

            if (_indexBuckets.Contains(bucket))
            {
                return;
            }

            var buckets = _indexBuckets.Append(bucket).Order(StringComparer.Ordinal).ToList();
            byte[] signature = Key.Sign(LedgerEncoding.IndexMessage(buckets, LedgerEncoding.SignatureAlgorithm, KeyId));
            var index = new LedgerIndex
            {
                Buckets = buckets,
                SignatureAlg = LedgerEncoding.SignatureAlgorithm,
                KeyId = KeyId,
                Signature = Convert.ToHexStringLower(signature),
            };
            AtomicFile.Write(Paths.IndexFile, JsonSerializer.SerializeToUtf8Bytes(index, AuditJsonContext.Default.LedgerIndex));
            _indexBuckets.Add(bucket);
        }
    }

    internal void CountOpenFile(int delta) => Interlocked.Add(ref _openFiles, delta);

    internal bool IsIndexed(string bucket)
    {
        lock (_indexLock)
        {
            return _indexProblem is not null || _indexBuckets.Contains(bucket);
        }
    }

    private static Result<ExternalActionLedger> Open(StateRoot root, Crypto.Ed25519PrivateKey key, LedgerOptions? options, IDisposable? ownedKey)
    {
        var paths = new LedgerPaths(root);
        FileStream writerLock;
        try
        {
            root.EnsureExists();
            PrivateDirectory.Ensure(paths.RecordsDirectory);
            PrivateDirectory.Ensure(paths.CheckpointsDirectory);
            // FileShare.None takes flock(LOCK_EX): one appender per ledger, released if it dies.
            writerLock = new FileStream(paths.WriterLockFile, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                UnixCreateMode = AtomicFile.PrivateFileMode,
            });
        }
        catch (IOException ex) when (File.Exists(paths.WriterLockFile))
        {
            return KheishError.Conflict(
                "ledger_locked",
                $"another process is appending to the external-action ledger ({paths.WriterLockFile} is locked): {Kheish.Core.Errors.IoReason.Of(ex)}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Unavailable(UnavailableCode, $"{UnavailableMessage}: cannot prepare {paths.RecordsDirectory} ({ex.Message})");
        }

        var ledger = new ExternalActionLedger(paths, key, options ?? new LedgerOptions(), writerLock, ownedKey);
        ledger.LoadIndex();

        if (ledger.Options.TransparencyLog is { } logOptions)
        {
            ledger.Log = Transparency.TransparencyLog.Open(root, key, logOptions);
        }

        ledger._flushLoop = Task.Run(ledger.FlushLoopAsync);
        if (!ledger.Options.DeferOpenChecks)
        {
            ledger.StartOpenChecks();
        }
        for (int i = 0; i < ledger.Options.WriterThreads; i++)
        {
            var thread = new Thread(ledger.RunHandOffs) { IsBackground = true, Name = $"kheish-ledger-{i}" };
            ledger._workers.Add(thread);
            thread.Start();
        }

        return ledger;
    }

    private void LoadIndex()
    {
        byte[]? bytes;
        try
        {
            bytes = AtomicFile.ReadOrNull(Paths.IndexFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _indexProblem = $"{Paths.IndexFile} cannot be read ({Kheish.Core.Errors.IoReason.Of(ex)})";
            return;
        }

        if (bytes is null)
        {
            if (_atOpen.Count > 0)
            {
                _indexProblem = $"the signed bucket index {Paths.IndexFile} is missing while bucket files exist";
            }

            return;
        }

        if (!LedgerChecks.TryParse(bytes, AuditJsonContext.Default.LedgerIndex, out LedgerIndex? index, out string? error))
        {
            _indexProblem = $"{Paths.IndexFile} is not a valid index ({error})";
            return;
        }

        byte[] message = LedgerEncoding.IndexMessage(index!.Buckets, index.SignatureAlg, index.KeyId);
        if (Checks.CheckSignature(index.SignatureAlg, index.KeyId, index.Signature, message, KeyId, null, "index") is { } failure)
        {
            _indexProblem = $"{Paths.IndexFile}: {failure.Reason}";
            return;
        }

        _indexBuckets.UnionWith(index.Buckets);
    }

    /// <summary>Starts the background check of the buckets that existed at open (once; later calls do nothing).</summary>
    public void StartOpenChecks()
    {
        if (Interlocked.Exchange(ref _openChecksStarted, 1) == 0 && !_closed)
        {
            _openChecks = Task.Factory.StartNew(CheckBucketsAtOpen, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Loads every bucket that existed at open, off the startup path, so a damaged or truncated
    /// bucket shows in <see cref="Health"/> without waiting for its next append. Each load reads
    /// the bucket's tail and checkpoint only.
    /// </summary>
    private void CheckBucketsAtOpen()
    {
        foreach (string stem in _atOpen)
        {
            if (_closed)
            {
                return;
            }

            _buckets.GetOrAdd(stem, static (s, ledger) => BucketWriter.Load(ledger, s), this).EnsureLoaded();
        }
    }

    private void RunHandOffs()
    {
        foreach (BucketWriter writer in _handOffs.GetConsumingEnumerable())
        {
            writer.RunWorker();
        }
    }

    private async Task FlushLoopAsync()
    {
        while (true)
        {
            try
            {
                await _flushSignal.WaitAsync(_stop.Token).ConfigureAwait(false);
                await Task.Delay(Options.CheckpointInterval, Options.Clock, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            Volatile.Write(ref _flushRequested, 0);
            FlushCheckpoints();
        }
    }

    private void FlushCheckpoints()
    {
        foreach (BucketWriter writer in _buckets.Values)
        {
            writer.FlushCheckpoint();
        }
    }

    private static KheishError? Validate(ExternalActionEvent ev)
    {
        if (!Enum.IsDefined(ev.Phase))
        {
            return Invalid("phase must be started, completed or failed");
        }

        return Field("kind", ev.Kind, required: true, 64)
            ?? Field("target", ev.Target, required: true, MaxTargetLength)
            ?? Field("session_id", ev.SessionId, required: false, MaxIdLength)
            ?? Field("agent_id", ev.AgentId, required: false, MaxIdLength)
            ?? Field("run_id", ev.RunId, required: false, MaxIdLength)
            ?? Field("tool_call_id", ev.ToolCallId, required: false, MaxIdLength)
            ?? Field("principal_id", ev.PrincipalId, required: false, MaxIdLength)
            ?? Field("parent_principal_id", ev.ParentPrincipalId, required: false, MaxIdLength)
            ?? Field("grant_id", ev.GrantId, required: false, MaxIdLength)
            ?? Field("lease_id", ev.LeaseId, required: false, MaxIdLength)
            ?? Field("request_digest", ev.RequestDigest, required: false, MaxIdLength)
            ?? Field("response_digest", ev.ResponseDigest, required: false, MaxIdLength)
            ?? Field("outcome", ev.Outcome, required: false, MaxIdLength)
            ?? Field("api_key_id", ev.ApiKeyId, required: false, MaxIdLength)
            ?? (ev.InputTokens is < 0 || ev.OutputTokens is < 0 ? Invalid("token counts must not be negative") : null);
    }

    private static KheishError? Field(string name, string? value, bool required, int maxLength)
    {
        if (value is null)
        {
            return required ? Invalid($"{name} is required") : null;
        }

        if (value.Length == 0 || value.Length > maxLength)
        {
            return Invalid($"{name} must be 1 to {maxLength} characters");
        }

        if (ControlCharacters.In(value) || !LedgerEncoding.IsEncodable(value))
        {
            return Invalid($"{name} contains control characters or invalid Unicode");
        }

        return null;
    }

    private static KheishError Invalid(string message) => KheishError.BadRequest("invalid_external_action", message);
}
