namespace Kheish.Core.Audit;

/// <summary>
/// Group-commit counters: batches (one write + one fdatasync each), records, mean batch size,
/// microseconds per record spent chaining/signing/encoding, and per batch spent writing + syncing.
/// </summary>
internal sealed record LedgerStats(long Batches, long Records, double MeanBatch, double BuildMicrosPerRecord, double WriteSyncMicrosPerBatch);
