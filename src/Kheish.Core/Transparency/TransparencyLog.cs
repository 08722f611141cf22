using System.Diagnostics;
using System.Text;
using Kheish.Core.Audit;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Transparency;

/// <summary>
/// The daemon's transparency log (DESIGN.md "Transparency"): one RFC 6962 tree over every ledger
/// record in the order the group commit made them durable, across buckets. Group commits hand
/// each synced batch to <see cref="Add"/> (a queue push, before its appenders are acknowledged);
/// the log thread sequences batches into the leaves file and the tree, and publishes a signed
/// checkpoint every <see cref="LogOptions.CheckpointRecords"/> records or
/// <see cref="LogOptions.CheckpointInterval"/>, and on close. The leaves file is fsynced before a
/// checkpoint is written, so a published checkpoint's leaves survive any crash; records synced but
/// not yet sequenced when the process died are sequenced on the next open, after every sequenced
/// one, so no two checkpoints ever disagree.
/// </summary>
internal sealed class TransparencyLog : IDisposable
{
    private readonly StateRoot _root;
    private readonly Ed25519PrivateKey _key;
    private readonly LogOptions _options;
    private LogState _state;
    private readonly Lock _treeLock = new();
    private readonly WorkQueue<Batch> _incoming = new();
    // Cuts the coalescing pause short for a flush request or a close (no spinning before it sleeps;
    // never disposed: it holds no handle, and a racing PublishNowAsync may still set it).
    private readonly ManualResetEventSlim _urgent = new(false, 0);
    private readonly Thread? _thread;
    private readonly FileStream? _leaves;
    private readonly TileWriter? _tiles;
    private Published? _latest;
    private volatile string? _problem;
    private long _sinceCheckpoint;
    private long _firstPendingTicks;
    private volatile bool _lostAfterClose;
    private long _historyLoadedTicks = long.MinValue / 2;

    private TransparencyLog(StateRoot root, Ed25519PrivateKey key, LogOptions options, LogState state, FileStream? leaves)
    {
        _root = root;
        _key = key;
        _options = options;
        _state = state;
        _leaves = leaves;
        Origin = options.Origin ?? DefaultOrigin(key.PublicKeyHex);
        if (leaves is not null)
        {
            _tiles = state.IsRightEdge ? TileWriter.Continuing(state.Paths.TilesDirectory, state.Tree) : new TileWriter(state.Paths.TilesDirectory);
            _thread = new Thread(Run) { IsBackground = true, Name = "kheish-tlog" };
        }
    }

    public string Origin { get; }

    /// <summary>Why the log takes no records and publishes no checkpoints; null when healthy.</summary>
    public string? Problem => _problem;

    /// <summary>The latest published checkpoint note with the witness cosignatures it has so far, or null before the first.</summary>
    public string? CheckpointNote => Volatile.Read(ref _latest) is { } latest ? _state.Cosigned.NoteFor(latest.Checkpoint.Size) ?? latest.Note : null;

    /// <summary>The latest published checkpoint and its log-signed note (no cosignatures): what is pushed to witnesses.</summary>
    public (Checkpoint Checkpoint, string Note)? Latest => Volatile.Read(ref _latest) is { } latest ? (latest.Checkpoint, latest.Note) : null;

    /// <summary>Called on the log thread after each checkpoint is published; must not block.</summary>
    public Action? CheckpointPublished { get; set; }

    public long CheckpointSize => Volatile.Read(ref _latest)?.Checkpoint.Size ?? 0;

    /// <summary>Records sequenced so far (some may not be in a checkpoint yet).</summary>
    public long Size
    {
        get
        {
            lock (_treeLock)
            {
                return _state.Tree.Size;
            }
        }
    }

    public static string DefaultOrigin(string publicKeyHex) => $"kheish-daemon/{publicKeyHex[..8]}";

    /// <summary>True when this open started from the checkpoint and tiles of a clean close (no bucket read).</summary>
    public bool OpenedFromCheckpoint { get; private init; }

    /// <summary>Bytes of the log's own files read to open it (the leaves file and tiles).</summary>
    public long OpenBytesRead { get; private init; }

    /// <summary>
    /// Opens the log for the daemon. After a clean close it starts from the checkpoint, the last
    /// partial leaves and the partial tiles (<see cref="LogState.TryLoadFromCheckpoint"/>): nothing
    /// else is read, and the whole log is loaded only when a proof first needs its history.
    /// Otherwise (a crash, an older version) it rebuilds the log from disk, checks every leaf against
    /// its record, sequences records a crash left out, and checks the last checkpoint. A log that
    /// does not match the records stays open with <see cref="Problem"/> set (appends keep working
    /// through the hash chains; the log is frozen).
    /// </summary>
    public static TransparencyLog Open(StateRoot root, Ed25519PrivateKey key, LogOptions options)
    {
        var paths = new LogPaths(root);
        LogState state;
        try
        {
            PrivateDirectory.Ensure(paths.Directory);
            LogState? fromCheckpoint = LogState.TryLoadFromCheckpoint(root, key.PublicKey);
            // From here records may reach the buckets before the log: the marker goes first, durably.
            if (File.Exists(paths.ClosedFile))
            {
                File.Delete(paths.ClosedFile);
                PosixNative.FsyncDirectory(paths.Directory);
            }

            state = fromCheckpoint ?? LogState.Load(root, key.PublicKey);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            var broken = new TransparencyLog(root, key, options, LogState.Empty(root), null) { _problem = $"cannot read the log ({ex.Message})" };
            return broken;
        }

        if (state.Problem is { } problem)
        {
            return new TransparencyLog(root, key, options, state, null) { _problem = problem };
        }

        FileStream leaves;
        try
        {
            leaves = new FileStream(paths.LeavesFile, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.Write,
                Share = FileShare.Read,
                UnixCreateMode = AtomicFile.PrivateFileMode,
                BufferSize = 64 * 1024,
            });
            leaves.SetLength(state.ValidLeavesLength);
            leaves.Position = state.ValidLeavesLength;
            foreach (LogEntry e in state.Unsequenced)
            {
                leaves.Write(e.LeafHash);
                leaves.Write(e.ActionId);
            }

            leaves.Flush(flushToDisk: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new TransparencyLog(root, key, options, state, null) { _problem = $"cannot write {paths.LeavesFile} ({ex.Message})" };
        }

        state.SequenceRecovered();
        var log = new TransparencyLog(root, key, options, state, leaves)
        {
            OpenedFromCheckpoint = state.IsRightEdge,
            OpenBytesRead = state.BytesRead,
        };
        if (state.Checkpoint is { } checkpoint && state.CheckpointNote is { } note)
        {
            log._latest = new Published(checkpoint, note);
        }

        log._sinceCheckpoint = state.Tree.Size - log.CheckpointSize;
        log._firstPendingTicks = Environment.TickCount64;
        if (log._sinceCheckpoint > 0 || log._latest is null || !string.Equals(log._latest.Checkpoint.Origin, log.Origin, StringComparison.Ordinal))
        {
            log.Publish();
        }

        log._thread!.Start();
        return log;
    }

    /// <summary>
    /// Called by a group commit once a batch is durable, before it is acknowledged: the batch's
    /// leaf hashes and action ids (32 bytes each, record order). Never blocks.
    /// </summary>
    public void Add(string stem, byte[] leafHashes, byte[] actionIds, int count)
    {
        if (_thread is null || _problem is not null)
        {
            return;
        }

        if (!_incoming.TryAdd(new Batch(stem, leafHashes, actionIds, count)))
        {
            // Closed: the record is in its bucket; the next open must look for it, so the close is not clean.
            _lostAfterClose = true;
            DeleteClosedMarker();
        }
    }

    /// <summary>The tlog-proof receipt of <paramref name="actionId"/> against the latest checkpoint.</summary>
    public Result<TlogProof> Prove(string actionId)
    {
        if (ActionKey.TryParseHex(actionId) is not { } key)
        {
            return KheishError.BadRequest("invalid_action_id", "an action id is 64 lowercase hex characters (the record's action_id)");
        }

        Published? latest = Volatile.Read(ref _latest);
        (long Index, string Stem) at;
        List<byte[]>? proof;
        byte[]? leaf;
        lock (_treeLock)
        {
            if (LoadHistory() is { } unavailable)
            {
                return unavailable;
            }

            bool found = _state.ByAction.TryGetValue(key, out at);
            if (!found && _state.ByActionFrom > 0)
            {
                // Older than the actions the running log keeps: load the whole log, as after an
                // open from the checkpoint (a checkpoint bounds it again later).
                if (LoadHistory(force: true) is { } older)
                {
                    return older;
                }

                found = _state.ByAction.TryGetValue(key, out at);
            }

            if (!found)
            {
                return _problem is { } problem
                    ? KheishError.Unavailable("transparency_log_unavailable", $"the transparency log is unavailable: {problem}")
                    : KheishError.NotFound("action_not_logged", $"no ledger record with action id {actionId} is in the transparency log (a record acknowledged moments ago is sequenced within milliseconds; retry)");
            }

            if (latest is null || at.Index >= latest.Checkpoint.Size)
            {
                return KheishError.Conflict(
                    "action_not_checkpointed",
                    $"action {actionId} is leaf {at.Index}, after the latest checkpoint (size {latest?.Checkpoint.Size ?? 0}); a checkpoint is published at least every {_options.CheckpointInterval.TotalMilliseconds:0} ms, retry then");
            }

            if (!TreeRead(() => _state.Tree.LeafHash(at.Index).ToArray()).TryGetValue(out leaf, out KheishError? unreadable))
            {
                return unreadable;
            }
        }

        // A witnessed checkpoint that covers the record is worth more than a newer unwitnessed one.
        (Checkpoint Checkpoint, string Note) anchor = _state.Cosigned.BestCovering(at.Index, latest.Checkpoint.Size) ?? (latest.Checkpoint, latest.Note);
        lock (_treeLock)
        {
            if (!TreeRead(() => _state.Tree.InclusionProof(at.Index, anchor.Checkpoint.Size)).TryGetValue(out proof, out KheishError? unreadable))
            {
                return unreadable;
            }
        }

        byte[]? line = _state.ReadLine(_root, at.Stem, leaf);
        if (line is null)
        {
            return KheishError.Unavailable("transparency_log_unavailable", $"the record line of action {actionId} is no longer in bucket {at.Stem}");
        }

        return new TlogProof(line, at.Index, proof, anchor.Note);
    }

    /// <summary>The consistency proof from size <paramref name="first"/> to the latest checkpoint.</summary>
    public Result<(Checkpoint Checkpoint, string Note, List<byte[]> Proof, byte[] FirstRoot)> Consistency(long first)
    {
        Published? latest = Volatile.Read(ref _latest);
        if (latest is null)
        {
            return KheishError.NotFound("no_checkpoint", "the log has published no checkpoint yet");
        }

        if (first < 0 || first > latest.Checkpoint.Size)
        {
            return KheishError.Conflict("checkpoint_ahead", $"size {first} is beyond the latest checkpoint (size {latest.Checkpoint.Size}): a rollback, or a checkpoint from another log");
        }

        lock (_treeLock)
        {
            if (LoadHistory() is { } unavailable)
            {
                return unavailable;
            }

            if (!TreeRead(() => (_state.Tree.ConsistencyProof(first, latest.Checkpoint.Size), _state.Tree.Root(first)))
                .TryGetValue(out (List<byte[]> Proof, byte[] FirstRoot) read, out KheishError? unreadable))
            {
                return unreadable;
            }

            return (latest.Checkpoint, latest.Note, read.Proof, read.FirstRoot);
        }
    }

    /// <summary>The consistency proof between two sizes of the tree (both at most <see cref="Size"/>).</summary>
    public List<byte[]> ConsistencyProof(long first, long second)
    {
        lock (_treeLock)
        {
            // After an open from the checkpoint the tree holds only its right edge.
            if (LoadHistory() is { } unavailable)
            {
                throw new IOException(unavailable.Message);
            }

            return _state.Tree.ConsistencyProof(first, second);
        }
    }

    /// <summary>A read of the tree under the tree lock; hashes before its right edge come from the tile files.</summary>
    private static Result<T> TreeRead<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (IOException ex)
        {
            return KheishError.Unavailable("transparency_log_unavailable", $"the transparency log's tiles cannot be read ({ex.Message})");
        }
    }

    /// <summary>Keeps a verified witness cosignature of <paramref name="checkpoint"/> beside it; the I/O error when it cannot be written.</summary>
    public string? AddCosignature(Checkpoint checkpoint, string logNote, string line)
    {
        try
        {
            _state.Cosigned.Add(checkpoint, logNote, line);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"cannot write the cosignature beside the checkpoint ({ex.Message})";
        }
    }

    /// <summary>
    /// Publishes a checkpoint now if records are pending, after everything already handed to <see cref="Add"/>,
    /// and completes with the size of the latest checkpoint then (so it covers every record acknowledged before the call).
    /// </summary>
    public Task<Result<long>> PublishNowAsync()
    {
        if (_thread is null || _problem is not null)
        {
            return Task.FromResult(Result<long>.Fail(Unavailable()));
        }

        var flushed = new TaskCompletionSource<Result<long>>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_incoming.TryAdd(new Batch("", [], [], 0) { Flushed = flushed }))
        {
            return Task.FromResult(Result<long>.Fail(KheishError.Unavailable("transparency_log_unavailable", "the transparency log is closed")));
        }

        _urgent.Set();
        return flushed.Task;
    }

    private KheishError Unavailable() => KheishError.Unavailable("transparency_log_unavailable", $"the transparency log is unavailable: {_problem ?? "it could not be opened"}");

    /// <summary>Sequences what is queued and publishes the final checkpoint (not marked as a clean close).</summary>
    public void Dispose() => Close(clean: false);

    /// <summary>
    /// Sequences what is queued and publishes the final checkpoint. <paramref name="clean"/>: every
    /// record in the buckets has reached the log, so when the final checkpoint covers every
    /// sequenced leaf the close is marked and the next open starts from the checkpoint.
    /// </summary>
    public void Close(bool clean)
    {
        _incoming.CompleteAdding();
        _urgent.Set();
        if (_thread is { IsAlive: true })
        {
            _thread.Join();
        }

        if (clean && _thread is not null && _leaves is not null && _problem is null && !_lostAfterClose)
        {
            try
            {
                long size;
                lock (_treeLock)
                {
                    _leaves.Flush(flushToDisk: true);
                    // The tiles were written without syncs, and the open from this checkpoint
                    // trusts the full ones: they are durable before the close is marked.
                    AuditNative.SyncFileSystem(_leaves.SafeFileHandle);
                    size = _state.Tree.Size;
                }

                if (size == CheckpointSize)
                {
                    AtomicFile.Write(_state.Paths.ClosedFile, Encoding.ASCII.GetBytes(size.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n"));
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // No marker: the next open rebuilds the log from the buckets, as after a crash.
            }
        }

        _leaves?.Dispose();
        if (_lostAfterClose)
        {
            DeleteClosedMarker();
        }
    }

    private void DeleteClosedMarker()
    {
        try
        {
            File.Delete(_state.Paths.ClosedFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _problem ??= $"cannot remove {_state.Paths.ClosedFile} ({ex.Message})";
        }
    }

    /// <summary>
    /// Under the tree lock: after an open from the checkpoint, loads the whole log (every leaf,
    /// checked against its record, as a full open does) the first time a proof needs its history;
    /// with <paramref name="force"/>, also once the receipts index dropped older actions (a receipt
    /// of one of them). Records of this run not yet sequenced are left to the log thread.
    /// </summary>
    private KheishError? LoadHistory(bool force = false)
    {
        if (!_state.IsRightEdge && !(force && _state.ByActionFrom > 0))
        {
            return null;
        }

        LogState full;
        try
        {
            // Every sequenced leaf is written under this lock; the reader below sees them all.
            _leaves?.Flush();
            full = LogState.Load(_root, _key.PublicKey);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or ObjectDisposedException)
        {
            return KheishError.Unavailable("transparency_log_unavailable", $"the transparency log's history cannot be read ({ex.Message})");
        }

        long size = _state.Tree.Size;
        if (full.Problem is { } problem)
        {
            _problem ??= problem;
        }
        else if (full.Tree.Size != size || !full.Tree.Root(size).AsSpan().SequenceEqual(_state.Tree.Root(size)))
        {
            _problem ??= $"the leaves file holds {full.Tree.Size} leaves whose tree does not match the {size} leaves the daemon sequenced: it was changed while the daemon ran";
        }

        _state = full;
        _historyLoadedTicks = Environment.TickCount64;
        return null;
    }

    private void Run()
    {
        while (true)
        {
            int wait = Timeout.Infinite;
            if (_sinceCheckpoint > 0)
            {
                long due = _firstPendingTicks + (long)_options.CheckpointInterval.TotalMilliseconds - Environment.TickCount64;
                wait = (int)Math.Clamp(due, 0, int.MaxValue);
            }

            if (_incoming.TryTake(out Batch batch, wait))
            {
                Integrate(batch);
                while (_sinceCheckpoint < _options.CheckpointRecords && _incoming.TryTake(out batch))
                {
                    Integrate(batch);
                }

                if (_sinceCheckpoint >= _options.CheckpointRecords)
                {
                    Publish();
                }

                // Coalesce wake-ups: a group commit adds a batch per sync, thousands a second, and
                // waking this thread for each cost two context switches per batch; on this
                // project's VM the log then took ~20% of a single producer's records per CPU-second
                // (log on/off 0.76-0.78; 0.84-1.0 with the pause, issue 16). Batches
                // wait here at most IntegratePause: none is acknowledged by this thread (its
                // bucket's sync acknowledged it), a checkpoint is due only every CheckpointInterval,
                // and a flush request or a close ends the pause at once.
                if (_urgent.Wait(IntegratePause))
                {
                    _urgent.Reset();
                }

                continue;
            }

            if (_incoming.IsCompleted)
            {
                if (_sinceCheckpoint > 0)
                {
                    Publish();
                }

                return;
            }

            if (_sinceCheckpoint > 0)
            {
                Publish();
            }
        }
    }

    /// <summary>What the running log holds in memory: actions its receipts can find without a load, and tree hashes.</summary>
    internal (int Actions, long Hashes) Held
    {
        get
        {
            lock (_treeLock)
            {
                return (_state.ByAction.Count, _state.Tree.HashesHeld);
            }
        }
    }

    /// <summary>How long the sequencing thread lets batches gather after it has taken some.</summary>
    internal static readonly TimeSpan IntegratePause = TimeSpan.FromMilliseconds(5);

    private void Integrate(Batch batch)
    {
        if (batch.Flushed is { } flushed)
        {
            if (_sinceCheckpoint > 0)
            {
                Publish();
            }

            flushed.TrySetResult(_problem is null ? Result<long>.Ok(CheckpointSize) : Result<long>.Fail(Unavailable()));
            return;
        }

        if (_problem is not null)
        {
            return;
        }

        lock (_treeLock)
        {
            if (_problem is not null)
            {
                return;
            }

            try
            {
                for (int i = 0; i < batch.Count; i++)
                {
                    _leaves!.Write(batch.LeafHashes, i * 32, 32);
                    _leaves.Write(batch.ActionIds, i * 32, 32);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _problem = $"cannot append to {_state.Paths.LeavesFile} ({ex.Message})";
                return;
            }

            for (int i = 0; i < batch.Count; i++)
            {
                _state.ByAction[ActionKey.From(batch.ActionIds.AsSpan(i * 32, 32))] = (_state.Tree.Size, batch.Stem);
                _state.Tree.Append(batch.LeafHashes.AsSpan(i * 32, 32));
            }
        }

        if (_sinceCheckpoint == 0)
        {
            _firstPendingTicks = Environment.TickCount64;
        }

        _sinceCheckpoint += batch.Count;
    }

    private void Publish()
    {
        if (_problem is not null)
        {
            return;
        }

        try
        {
            Checkpoint checkpoint;
            lock (_treeLock)
            {
                // The leaves a checkpoint covers are durable before the checkpoint exists.
                _leaves!.Flush(flushToDisk: true);
                checkpoint = new Checkpoint(Origin, _state.Tree.Size, _state.Tree.Root(_state.Tree.Size));
                _tiles!.Write(_state.Tree);
                // Memory stays bounded however long the daemon runs, whether the log was opened
                // whole or from its checkpoint: every full tile is on disk now, so the tree keeps
                // its right edge (re-deriving it costs ~1,000 hashes) and the receipts index keeps
                // the recent actions.
                if (_state.Tree.HashesHeld > _options.TreeHashesKept)
                {
                    _state.TrimTree();
                }

                long size = _state.Tree.Size;
                // After a load for an older receipt the whole index is kept a while, so a batch of
                // receipts of older actions costs one load, not one each.
                if (size - _state.ByActionFrom >= 2L * _options.RecentActions
                    && Environment.TickCount64 - _historyLoadedTicks >= (long)_options.HistoryKept.TotalMilliseconds)
                {
                    _state.KeepRecent(size - _options.RecentActions);
                }
            }

            string note = SignedNote.Sign(checkpoint.Text, Origin, _key);
            AtomicFile.Write(_state.Paths.CheckpointFile, Encoding.UTF8.GetBytes(note));
            Volatile.Write(ref _latest, new Published(checkpoint, note));
            _sinceCheckpoint = 0;
            CheckpointPublished?.Invoke();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _problem = $"cannot publish a checkpoint ({ex.Message})";
        }
    }

    private sealed record Batch(string Stem, byte[] LeafHashes, byte[] ActionIds, int Count)
    {
        /// <summary>Set on a <see cref="PublishNowAsync"/> marker (no records).</summary>
        public TaskCompletionSource<Result<long>>? Flushed { get; init; }
    }

    private sealed record Published(Checkpoint Checkpoint, string Note);
}

/// <summary>When the log publishes checkpoints, and under which origin.</summary>
internal sealed record LogOptions
{
    public int CheckpointRecords { get; init; } = 1000;

    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Actions whose receipt the running log answers from memory (the most recent ones); it keeps
    /// between this many and twice as many. An older receipt reads the whole log from disk first.
    /// </summary>
    public int RecentActions { get; init; } = 8192;

    /// <summary>How long the whole receipts index is kept after a receipt loaded it, before a checkpoint cuts it back to the recent actions.</summary>
    public TimeSpan HistoryKept { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Tree hashes in memory above which a checkpoint cuts the tree back to its right edge.</summary>
    public long TreeHashesKept { get; init; } = 8192;

    /// <summary>The checkpoint origin (and note key name); null = <c>kheish-daemon/&lt;first 8 hex of the key&gt;</c>.</summary>
    public string? Origin { get; init; }
}
