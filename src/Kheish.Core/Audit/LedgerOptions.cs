namespace Kheish.Core.Audit;

/// <summary>Tuning knobs; the defaults are what the daemon uses.</summary>
internal sealed record LedgerOptions
{
    /// <summary>
    /// How long after an append its bucket's checkpoint is rewritten. Checkpoints are off the
    /// acknowledgement path (an append is durable once its record line is synced); this bounds
    /// the tail a truncation could remove without the checkpoint noticing.
    /// </summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Bucket files kept open between appends. Beyond it, a bucket whose writer goes idle closes
    /// its file (and reopens it on the next append), so thousands of runs never exhaust descriptors.
    /// </summary>
    public int MaxOpenFiles { get; init; } = 256;

    /// <summary>
    /// How long a record appended with <see cref="ExternalActionLedger.AppendSoonAsync"/> waits
    /// for its bucket's next group commit before it is written and synced on its own.
    /// </summary>
    public TimeSpan SoonDelay { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>The largest <see cref="ReserveBytes"/>: well under a record line's limit, which a reader's torn tail is checked against.</summary>
    public const int MaxReserveBytes = 64 * 1024;

    /// <summary>
    /// Zeroed bytes an open bucket file keeps after its records, so most syncs write data and not
    /// the file's size (see <c>BucketWriter.ExtendReserve</c>); 0 appends without a reserve.
    /// </summary>
    public int ReserveBytes
    {
        get;
        init => field = value is >= 0 and <= MaxReserveBytes
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, $"between 0 and {MaxReserveBytes}");
    } = 64 * 1024;

    /// <summary>
    /// Threads that run handed-off group commits, so several buckets can sync at once. Measured with
    /// 64 producers on 64 buckets (<c>Kheish.Bench append</c>, <c>BENCH_WRITER_THREADS</c> alternated, four
    /// rounds): 12.4k appends/s with 4 threads, 14.8k with 8, and 14.0k with 16 in an earlier set;
    /// 16 producers on one bucket were unchanged (18.8k vs 18.7k). Issue 16.
    /// </summary>
    public int WriterThreads
    {
        get;
        init => field = value is >= 1 and <= 64
            ? value
            : throw new ArgumentOutOfRangeException(nameof(value), value, "between 1 and 64");
    } = 8;

    /// <summary>Most records one group commit writes with one sync.</summary>
    public int MaxBatch { get; init; } = 4096;

    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>
    /// When true the background check of the buckets that exist at open waits for
    /// <see cref="ExternalActionLedger.StartOpenChecks"/> (serve calls it once it is listening, so
    /// the check does not compete with startup); otherwise it starts at open.
    /// </summary>
    public bool DeferOpenChecks { get; init; }

    /// <summary>The transparency log over the records (checkpoint cadence, origin); null turns it off (benchmarks only).</summary>
    public Transparency.LogOptions? TransparencyLog { get; init; } = new();
}
