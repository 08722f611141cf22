using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Audit;

/// <summary>
/// One bucket's chain and its group-commit writer. Appenders enqueue; the first appender that
/// finds the writer idle becomes the leader and writes every queued record with one write and one
/// fdatasync. A lone producer syncs on its own thread (no thread hop). A thread-pool leader never
/// waits in fdatasync while other work waits for a pool thread or more records are queued: it
/// hands the written batch, with the writer role, to a ledger thread, which syncs it and writes
/// what queued meanwhile, each batch synced before the next is written, until the queue is empty.
/// Queue order is chain order is file order.
/// <para>
/// Measured against the pipelined writer it replaced (batch N+1 chained and signed on the writer
/// while N synced on a separate sync thread): on 2 cores the 16-producer ledger bench wrote 13%
/// more records per CPU-second and the MCP gateway took 7.0–7.8 instead of 8.5–10.2 context
/// switches per call, because each batch no longer crosses three threads (pool → writer → sync
/// thread) and back. Request threads still never block in the ledger, and the pool needs no extra
/// threads for it (issue 13).
/// </para>
/// </summary>
internal sealed class BucketWriter : IDisposable
{
    // Below this, Parallel.For costs more than it saves on a busy two-core machine (measured).
    private const int ParallelSignThreshold = 64;

    private const int MaxKeptLineBuffer = 256 * 1024;

    private static readonly byte[] Zeros = new byte[LedgerOptions.MaxReserveBytes + 4096];

    [ThreadStatic]
    private static CanonicalBuffer? t_lines;

    private readonly ExternalActionLedger _ledger;
    private readonly ConcurrentQueue<PendingAppend> _queue = new();
    private readonly Lock _checkpointLock = new();
    private readonly Lock _loadLock = new();
    private volatile bool _loaded;
    private FileStream? _file;
    private int _running;
    private bool _onDisk;
    private bool _syncDirectory;
    private long _length;

    /// <summary>The open file's size: the records (<see cref="_length"/>) and the zeroed reserve after them.</summary>
    private long _allocated;
    private long _count;
    private string? _lastHash;
    private BuiltBatch? _handed;
    private Timer? _soonTimer;
    private int _soonArmed;
    private long _checkpointed;
    private volatile Tail _tail = new(0, null);
    private volatile string? _unavailable;

    private BucketWriter(ExternalActionLedger ledger, string stem, string name)
    {
        _ledger = ledger;
        Stem = stem;
        Name = name;
    }

    public string Stem { get; }

    /// <summary>The bucket name (run id, session-…, unscoped); the stem when the name could not be recovered.</summary>
    public string Name { get; private set; }

    public string? UnavailableReason => _unavailable;

    public static BucketWriter CreateNew(ExternalActionLedger ledger, string stem, string bucket) => new(ledger, stem, bucket);

    /// <summary>
    /// An existing bucket, not read yet: <see cref="EnsureLoaded"/> reads its tail on its first
    /// append, or when the ledger's background open check reaches it, whichever comes first.
    /// </summary>
    public static BucketWriter Load(ExternalActionLedger ledger, string stem) =>
        new(ledger, stem, stem) { _onDisk = true, _checkpointed = -1 };

    /// <summary>
    /// Loads an existing bucket once: trims a torn tail, checks the last record (hash, signature by
    /// the configured key, bucket) and the checkpoint (signature, not ahead of the file, its record
    /// found by counting back from the end). Any failure makes the bucket unavailable with the
    /// reason; nothing throws. Reads the file's last lines, never the whole bucket.
    /// </summary>
    public void EnsureLoaded()
    {
        if (_loaded)
        {
            return;
        }

        lock (_loadLock)
        {
            if (_loaded)
            {
                return;
            }

            if (_onDisk)
            {
                try
                {
                    _unavailable = LoadTail();
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
                {
                    _unavailable = $"cannot read the bucket ({ex.GetType().Name}: {ex.Message})";
                }
            }

            _loaded = true;
        }
    }

    public Task<Result<LedgerRecord>> Enqueue(ExternalActionEvent ev)
    {
        var pending = new PendingAppend(ev);
        _queue.Enqueue(pending);
        if (Interlocked.CompareExchange(ref _running, 1, 0) == 0)
        {
            RunAsLeader(pending);
        }

        return pending.Completion.Task;
    }

    /// <summary>
    /// Queues a record nobody waits for: the next group commit takes it, or, when the writer is
    /// idle, a timer starts one after <see cref="LedgerOptions.SoonDelay"/>.
    /// </summary>
    public Task<Result<LedgerRecord>> EnqueueSoon(ExternalActionEvent ev)
    {
        var pending = new PendingAppend(ev);
        _queue.Enqueue(pending);
        if (Volatile.Read(ref _running) == 0 && Interlocked.Exchange(ref _soonArmed, 1) == 0)
        {
            // A writer that holds the role now takes the record before it releases the role.
            (_soonTimer ??= CreateSoonTimer()).Change(_ledger.Options.SoonDelay, Timeout.InfiniteTimeSpan);
        }

        return pending.Completion.Task;
    }

    /// <summary>Rewrites the signed checkpoint if records were appended since the last one.</summary>
    public void FlushCheckpoint()
    {
        Tail tail = _tail;
        if (!_loaded || _unavailable is not null || !_onDisk || tail.Count <= Volatile.Read(ref _checkpointed))
        {
            return;
        }

        try
        {
            WriteCheckpoint(tail);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _unavailable = $"cannot write the checkpoint ({ex.Message})";
        }
    }

    public async Task WaitIdleAsync()
    {
        for (int i = 0; Volatile.Read(ref _running) != 0 || !_queue.IsEmpty; i++)
        {
            await Task.Delay(i < 100 ? 1 : 10).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _soonTimer?.Dispose();
        TrimReserveQuietly();
        _file?.Dispose();
    }

    /// <summary>
    /// <see cref="TrimReserve"/> where a failure changes nothing that matters: the reserve is zeros,
    /// which every reader skips and the next open cuts.
    /// </summary>
    private void TrimReserveQuietly()
    {
        try
        {
            TrimReserve();
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Writes what <see cref="EnqueueSoon"/> queued unless a writer already took it.</summary>
    public void WriteSoon()
    {
        Volatile.Write(ref _soonArmed, 0);
        if (!_queue.IsEmpty && Interlocked.CompareExchange(ref _running, 1, 0) == 0)
        {
            RunWorker();
        }
    }

    private Timer CreateSoonTimer()
    {
        lock (_loadLock)
        {
            return _soonTimer ??= new Timer(static w => ((BucketWriter)w!).WriteSoon(), this, Timeout.Infinite, Timeout.Infinite);
        }
    }

    private void RunAsLeader(PendingAppend own)
    {
        // Stops once its own record is durable, or once its batch went to a ledger thread with the
        // writer role (that thread syncs it, completes it and releases the role).
        while (!own.Completion.Task.IsCompleted && !_queue.IsEmpty)
        {
            if (WriteQueuedBatch())
            {
                // The batch syncs on a ledger thread, which keeps the writer role and releases it.
                return;
            }
        }

        CloseIfTooManyOpen();
        ReleaseOrHandOff();
    }

    /// <summary>
    /// In the writer role, on a ledger thread (or a pool thread for <see cref="WriteSoon"/> and while
    /// closing): syncs the batch handed with the role, then writes until the queue is empty.
    /// </summary>
    public void RunWorker()
    {
        if (_handed is { } handed)
        {
            _handed = null;
            Complete(handed);
        }

        while (!_queue.IsEmpty)
        {
            if (WriteQueuedBatch())
            {
                // Only on a pool thread (the ledger is closing): the role went on with the batch.
                return;
            }
        }

        CloseIfTooManyOpen();
        ReleaseOrHandOff();
    }

    /// <summary>Runs in the writer role only, so nobody else is using the file.</summary>
    private void CloseIfTooManyOpen()
    {
        if (_file is not null && _queue.IsEmpty && _ledger.OpenFiles > _ledger.Options.MaxOpenFiles)
        {
            TrimReserveQuietly();
            _file.Dispose();
            _file = null;
            _ledger.CountOpenFile(-1);
        }
    }

    /// <summary>Leaves the writer role; work that arrived meanwhile goes to a ledger thread, never stranded.</summary>
    private void ReleaseOrHandOff()
    {
        while (true)
        {
            if (!_queue.IsEmpty)
            {
                _ledger.HandOff(this);
                return;
            }

            // A full fence: the queue is read after the release is visible, or an append that saw
            // the role held could be stranded.
            Interlocked.Exchange(ref _running, 0);
            if (_queue.IsEmpty || Interlocked.CompareExchange(ref _running, 1, 0) != 0)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Writes one batch from the queue and syncs it here, or hands it unsynced, with the writer
    /// role, to a ledger thread: true when it did (the caller then no longer holds the role).
    /// </summary>
    private bool WriteQueuedBatch()
    {
        var batch = new List<PendingAppend>();
        while (batch.Count < _ledger.Options.MaxBatch && _queue.TryDequeue(out PendingAppend? pending))
        {
            batch.Add(pending);
        }

        if (batch.Count == 0)
        {
            return false;
        }

        EnsureLoaded();
        if (_unavailable is { } reason)
        {
            FailAll(batch, ExternalActionLedger.Unavailable(Name, reason));
            return false;
        }

        try
        {
            PrepareFile();
            CanonicalBuffer lines = RentLines();
            BuiltBatch built = Build(batch, lines);
            RandomAccess.Write(_file!.SafeFileHandle, lines.Written, _length);
            _length += lines.Length;
            ExtendReserve();
            built.SyncDirectory = _syncDirectory;
            _syncDirectory = false;
            ReturnLines(lines);
            if (!Thread.CurrentThread.IsThreadPoolThread || (_queue.IsEmpty && ThreadPool.PendingWorkItemCount == 0))
            {
                // A ledger thread, or a pool thread whose sync blocks nobody: sync here, no hop.
                Complete(built);
                return false;
            }

            _handed = built;
            _ledger.HandOff(this);
            return true;
        }
#pragma warning disable CA1031 // Whatever broke the write, the bucket is now unknown: fail closed and never leave an appender hanging.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            string why = ex is BucketUnavailableException unavailable
                ? unavailable.Reason
                : $"append failed ({ex.GetType().Name}: {ex.Message})";
            _unavailable ??= why;
            _ledger.NoteAppendFailure();
            FailAll(batch, ExternalActionLedger.Unavailable(Name, why));
            return false;
        }
    }

    private void PrepareFile()
    {
        if (_ledger.IsDrained && _file is null && !_onDisk)
        {
            throw new BucketUnavailableException("the ledger is closed");
        }

        if (!_onDisk)
        {
            CreateOnDisk();
        }

        if (_file is null)
        {
            _file = new FileStream(_ledger.Paths.RecordFile(Stem), new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Write,
                Share = FileShare.Read,
            });
            _ledger.CountOpenFile(1);
            _allocated = Math.Max(_length, RandomAccess.GetLength(_file.SafeFileHandle));
        }
    }

    /// <summary>
    /// After a write that reached the end of the file, writes <see cref="LedgerOptions.ReserveBytes"/>
    /// of zeros after the records (up to a 4 KiB boundary), synced with the batch. The next batches
    /// overwrite that reserve, so their fdatasync writes data only: the file's size, and with it a
    /// filesystem journal commit, changes once per reserve, not once per batch (issue 16). Readers
    /// take a trailing run of zero bytes for the reserve, never for records.
    /// </summary>
    private void ExtendReserve()
    {
        int reserve = _ledger.Options.ReserveBytes;
        if (reserve <= 0 || _length < _allocated)
        {
            return;
        }

        long end = (_length + reserve + 4095) & ~4095L;
        try
        {
            RandomAccess.Write(_file!.SafeFileHandle, Zeros.AsSpan(0, (int)(end - _length)), _length);
            _allocated = end;
        }
        catch (IOException)
        {
            // A full disk refuses the reserve, not the records already written: append without one
            // (any zeros written are skipped by readers, and overwritten by the next batch).
            _allocated = _length;
        }
    }

    /// <summary>Cuts the zeroed reserve off before the file is closed, so a bucket at rest is its records only.</summary>
    private void TrimReserve()
    {
        if (_file is not null && _allocated > _length)
        {
            RandomAccess.SetLength(_file.SafeFileHandle, _length);
            _allocated = _length;
        }
    }

    /// <summary>
    /// Chains, encodes and signs one batch into <paramref name="lines"/>: each record's canonical
    /// bytes are built once, hashed where they lie and reused as the file line.
    /// </summary>
    private BuiltBatch Build(List<PendingAppend> batch, CanonicalBuffer lines)
    {
        long started = Stopwatch.GetTimestamp();
        int n = batch.Count;
        var records = new LedgerRecord[n];
        byte[] digests = new byte[n * 32];
        int[] signatureOffsets = new int[n];
        int[] lineStarts = new int[n + 1];
        // Each batch is synced (and its hash is the tail) before the next one is built.
        string? prev = _lastHash;
        string keyId = _ledger.KeyId;
        ReadOnlySpan<byte> keyIdUtf8 = _ledger.KeyIdUtf8;
        for (int i = 0; i < n; i++)
        {
            ExternalActionEvent ev = batch[i].Event;
            string phase = ExternalActionEvent.PhaseName(ev.Phase);
            long timestamp = _ledger.Options.Clock.GetUtcNow().ToUnixTimeMilliseconds();
            Span<byte> digest = digests.AsSpan(i * 32, 32);
            lineStarts[i] = lines.Length;
            signatureOffsets[i] = LedgerEncoding.AppendRecordLine(lines, ev, phase, timestamp, prev, keyIdUtf8, digest);
            string hash = Convert.ToHexStringLower(digest);
            records[i] = new LedgerRecord
            {
                ActionId = hash,
                TimestampMs = timestamp,
                SessionId = ev.SessionId,
                AgentId = ev.AgentId,
                RunId = ev.RunId,
                ToolCallId = ev.ToolCallId,
                PrincipalId = ev.PrincipalId,
                ParentPrincipalId = ev.ParentPrincipalId,
                GrantId = ev.GrantId,
                LeaseId = ev.LeaseId,
                Phase = phase,
                Kind = ev.Kind,
                Target = ev.Target,
                RequestDigest = ev.RequestDigest,
                ResponseDigest = ev.ResponseDigest,
                Outcome = ev.Outcome,
                ApiKeyId = ev.ApiKeyId,
                InputTokens = ev.InputTokens,
                OutputTokens = ev.OutputTokens,
                PrevHash = prev,
                RecordHash = hash,
                SignatureAlg = LedgerEncoding.SignatureAlgorithm,
                KeyId = keyId,
                Signature = string.Empty,
            };
            prev = hash;
        }

        // The chain is fixed by the hashes; signatures are independent, so a big batch signs on every core.
        byte[] signatures = new byte[n * Crypto.Ed25519.SignatureSize];
        Crypto.Ed25519PrivateKey key = _ledger.Key;
        if (n >= ParallelSignThreshold)
        {
            Parallel.For(0, n, i => key.Sign(digests.AsSpan(i * 32, 32), signatures.AsSpan(i * Crypto.Ed25519.SignatureSize, Crypto.Ed25519.SignatureSize)));
        }
        else
        {
            for (int i = 0; i < n; i++)
            {
                key.Sign(digests.AsSpan(i * 32, 32), signatures.AsSpan(i * Crypto.Ed25519.SignatureSize, Crypto.Ed25519.SignatureSize));
            }
        }

        lineStarts[n] = lines.Length;
        Span<byte> written = lines.WrittenSpan;
        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<byte> signature = signatures.AsSpan(i * Crypto.Ed25519.SignatureSize, Crypto.Ed25519.SignatureSize);
            LedgerEncoding.FillSignature(written, signatureOffsets[i], signature);
            records[i] = records[i] with { Signature = Convert.ToHexStringLower(signature) };
        }

        // RFC 6962 leaf hashes of the final lines (without their newline), for the transparency log.
        byte[]? leafHashes = null;
        if (_ledger.Log is not null)
        {
            leafHashes = new byte[n * 32];
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            ReadOnlySpan<byte> leafPrefix = [0x00];
            for (int i = 0; i < n; i++)
            {
                sha.AppendData(leafPrefix);
                sha.AppendData(written[lineStarts[i]..(lineStarts[i + 1] - 1)]);
                sha.GetHashAndReset(leafHashes.AsSpan(i * 32, 32));
            }
        }

        return new BuiltBatch(batch, records, prev!, started, Stopwatch.GetTimestamp()) { LeafHashes = leafHashes, ActionIds = digests };
    }

    /// <summary>In the writer role: makes a written batch durable and completes its appenders.</summary>
    private void Complete(BuiltBatch built)
    {
        try
        {
            AuditNative.DataSync(_file!.SafeFileHandle);
            if (built.SyncDirectory)
            {
                PosixNative.FsyncDirectory(_ledger.Paths.RecordsDirectory);
            }
        }
#pragma warning disable CA1031 // A failed sync leaves the bucket unknown: fail closed, never leave an appender hanging.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            string why = $"append failed ({ex.GetType().Name}: {ex.Message})";
            _unavailable ??= why;
            _ledger.NoteAppendFailure();
            FailAll(built.Batch, ExternalActionLedger.Unavailable(Name, why));
            return;
        }

        _count += built.Batch.Count;
        _lastHash = built.LastHash;
        _tail = new Tail(_count, _lastHash);
        _ledger.CountBatch(built.Batch.Count, built.Built - built.Started, Stopwatch.GetTimestamp() - built.Built);
        _ledger.RequestCheckpoint();
        if (built.LeafHashes is { } leafHashes)
        {
            // Durable, not yet acknowledged: the log's order is the order batches became durable.
            _ledger.Log?.Add(Stem, leafHashes, built.ActionIds!, built.Batch.Count);
        }

        for (int i = 0; i < built.Batch.Count; i++)
        {
            built.Batch[i].Completion.TrySetResult(built.Records[i]);
        }
    }

    private static CanonicalBuffer RentLines()
    {
        CanonicalBuffer lines = t_lines ??= new CanonicalBuffer(16 * 1024);
        lines.Clear();
        return lines;
    }

    private static void ReturnLines(CanonicalBuffer lines)
    {
        // A huge batch's buffer is not kept for the thread's lifetime.
        if (lines.Capacity > MaxKeptLineBuffer)
        {
            t_lines = null;
        }
    }

    /// <summary>
    /// A new bucket is announced before its first record: a signed checkpoint with zero records,
    /// then its signed index entry, then the (empty) record file. So a record file without a
    /// checkpoint or an index entry is always tampering, never a crash, and a reader that sees an
    /// index entry also sees the checkpoint.
    /// </summary>
    private void CreateOnDisk()
    {
        WriteCheckpoint(new Tail(0, null));
        _ledger.EnsureIndexed(Name);
        _file = new FileStream(_ledger.Paths.RecordFile(Stem), new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.Read,
            UnixCreateMode = AtomicFile.PrivateFileMode,
        });
        _ledger.CountOpenFile(1);
        _allocated = 0;
        _onDisk = true;
        _syncDirectory = true;
    }

    private void WriteCheckpoint(Tail tail)
    {
        lock (_checkpointLock)
        {
            if (tail.Count <= _checkpointed && tail.Count != 0)
            {
                return;
            }

            string keyId = _ledger.KeyId;
            byte[] message = LedgerEncoding.CheckpointMessage(Name, tail.Count, tail.LastHash, LedgerEncoding.SignatureAlgorithm, keyId);
            var checkpoint = new LedgerCheckpoint
            {
                Bucket = Name,
                RecordCount = tail.Count,
                LastRecordHash = tail.LastHash,
                SignatureAlg = LedgerEncoding.SignatureAlgorithm,
                KeyId = keyId,
                Signature = Convert.ToHexStringLower(_ledger.Key.Sign(message)),
            };
            AtomicFile.Write(_ledger.Paths.CheckpointFile(Stem), JsonSerializer.SerializeToUtf8Bytes(checkpoint, AuditJsonContext.Default.LedgerCheckpoint));
            Volatile.Write(ref _checkpointed, tail.Count);
        }
    }

    private string? LoadTail()
    {
        LedgerChecks checks = _ledger.Checks;
        string keyId = _ledger.KeyId;
        LedgerCheckpoint? checkpoint = null;
        string? checkpointProblem = null;
        if (AtomicFile.ReadOrNull(_ledger.Paths.CheckpointFile(Stem)) is not { } checkpointBytes)
        {
            checkpointProblem = "its signed checkpoint is missing";
        }
        else if (!LedgerChecks.TryParse(checkpointBytes, AuditJsonContext.Default.LedgerCheckpoint, out checkpoint, out string? error))
        {
            checkpointProblem = $"its checkpoint is not valid ({error})";
        }
        else
        {
            byte[] message = LedgerEncoding.CheckpointMessage(checkpoint!.Bucket, checkpoint.RecordCount, checkpoint.LastRecordHash, checkpoint.SignatureAlg, checkpoint.KeyId);
            if (checks.CheckSignature(checkpoint.SignatureAlg, checkpoint.KeyId, checkpoint.Signature, message, keyId, null, "checkpoint") is { } failure)
            {
                checkpointProblem = failure.Reason;
            }
            else if (!string.Equals(BucketName.FileStem(checkpoint.Bucket), Stem, StringComparison.Ordinal))
            {
                checkpointProblem = "its checkpoint names another bucket";
            }
            else
            {
                Name = checkpoint.Bucket;
            }
        }

        // The record count comes from the checkpoint: lines are counted back from the end only
        // to the record it names (normally the last line), so opening never reads the whole bucket.
        // Without a usable checkpoint, or when its record is not found, every line is counted.
        long anchorCount = checkpointProblem is null && checkpoint!.RecordCount > 0 && checkpoint.LastRecordHash is not null ? checkpoint.RecordCount : -1;
        long count;
        bool anchorFound = false;
        byte[]? last;
        long validLength;
        long torn;
        using (RecordFileTail tail = RecordFileTail.Open(_ledger.Paths.RecordFile(Stem)))
        {
            validLength = tail.ValidLength;
            torn = tail.TornTailBytes;
            last = tail.PreviousLine();
            long walked = 0;
            for (byte[]? line = last; line is not null; line = tail.PreviousLine())
            {
                walked++;
                if (anchorCount > 0
                    && LedgerChecks.TryParseRecord(line, out LedgerRecord? r, out _)
                    && string.Equals(r!.RecordHash, checkpoint!.LastRecordHash, StringComparison.Ordinal))
                {
                    anchorFound = true;
                    break;
                }
            }

            count = anchorFound ? anchorCount + walked - 1 : walked;
            _ledger.CountOpenBytes(tail.BytesRead);
        }

        if (torn > 0)
        {
            // Bytes after the last newline were never acknowledged (a crash mid-write): drop them
            // so the next record starts on its own line.
            using var file = new FileStream(_ledger.Paths.RecordFile(Stem), FileMode.Open, FileAccess.Write, FileShare.Read);
            file.SetLength(validLength);
            file.Flush(flushToDisk: true);
        }

        LedgerRecord? lastRecord = null;
        if (last is not null)
        {
            if (!LedgerChecks.TryParseRecord(last, out lastRecord, out VerifyFailure? parseFailure))
            {
                return $"its last record (line {count}) is damaged: {parseFailure!.Reason}";
            }

            if (Name == Stem && BucketName.IsHashedStem(Stem))
            {
                Name = BucketName.For(lastRecord!);
            }

            if (checks.CheckRecord(lastRecord!, count - 1, Name, keyId) is { } failure)
            {
                return $"its last record (line {count}) does not verify: {failure.Reason}";
            }
        }

        if (checkpointProblem is not null)
        {
            return checkpointProblem;
        }

        if (checkpoint!.RecordCount > count)
        {
            return $"truncated: the checkpoint records {checkpoint.RecordCount} records, the file has {count}";
        }

        if (checkpoint.RecordCount > 0)
        {
            if (!anchorFound)
            {
                return $"record {checkpoint.RecordCount} does not match the checkpoint's last_record_hash";
            }
        }
        else if (checkpoint.LastRecordHash is not null)
        {
            return "the checkpoint of an empty bucket names a last record";
        }

        if (!_ledger.IsIndexed(Name))
        {
            return "the bucket is not in the signed bucket index";
        }

        _count = count;
        _length = validLength;
        _lastHash = lastRecord?.RecordHash;
        _checkpointed = checkpoint.RecordCount;
        _tail = new Tail(_count, _lastHash);
        if (_count > _checkpointed)
        {
            _ledger.RequestCheckpoint();
        }

        return null;
    }

    private static void FailAll(List<PendingAppend> batch, KheishError error)
    {
        foreach (PendingAppend p in batch)
        {
            p.Completion.TrySetResult(error);
        }
    }

    private sealed record Tail(long Count, string? LastHash);

    /// <summary>Why a bucket cannot take records, raised inside the writer and turned into <c>audit_unavailable</c>.</summary>
    internal sealed class BucketUnavailableException(string reason) : IOException(reason)
    {
        public string Reason { get; } = reason;
    }

    /// <summary>A written batch waiting for its fdatasync (<see cref="Complete(BuiltBatch)"/>).</summary>
    internal sealed class BuiltBatch(List<PendingAppend> batch, LedgerRecord[] records, string lastHash, long started, long built)
    {
        public List<PendingAppend> Batch { get; } = batch;

        public LedgerRecord[] Records { get; } = records;

        public string LastHash { get; } = lastHash;

        public long Started { get; } = started;

        public long Built { get; } = built;

        public bool SyncDirectory { get; set; }

        /// <summary>The records' RFC 6962 leaf hashes, 32 bytes each; null when the log is off.</summary>
        public byte[]? LeafHashes { get; init; }

        /// <summary>The records' action ids (record hashes), 32 bytes each.</summary>
        public byte[]? ActionIds { get; init; }
    }

    internal sealed class PendingAppend(ExternalActionEvent ev)
    {
        public ExternalActionEvent Event { get; } = ev;

        public TaskCompletionSource<Result<LedgerRecord>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
