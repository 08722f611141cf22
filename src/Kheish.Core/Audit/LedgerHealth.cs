namespace Kheish.Core.Audit;

/// <summary>A bucket the ledger refuses to append to, and why. Its actions fail; others keep working.</summary>
internal sealed record UnavailableBucket(string Bucket, string Reason);

/// <summary>
/// What <c>/readyz</c> and <c>/v1/status</c> report about the ledger. <see cref="Healthy"/> is false
/// when any bucket is unavailable or new buckets cannot be created (<see cref="IndexProblem"/>).
/// </summary>
internal sealed record LedgerHealth(
    bool Healthy,
    string KeyId,
    int Buckets,
    string? IndexProblem,
    IReadOnlyList<UnavailableBucket> UnavailableBuckets);

/// <summary>
/// Group-commit counters: batches (one write + one fdatasync each), records, mean batch size,
/// microseconds per record spent chaining/signing/encoding, and per batch spent writing + syncing.
/// </summary>
internal sealed record LedgerStats(long Batches, long Records, double MeanBatch, double BuildMicrosPerRecord, double WriteSyncMicrosPerBatch);

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

    /// <summary>Most records one group commit writes with one sync.</summary>
    public int MaxBatch { get; init; } = 4096;

    public TimeProvider Clock { get; init; } = TimeProvider.System;
}
