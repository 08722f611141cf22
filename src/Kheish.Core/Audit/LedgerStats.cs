namespace Kheish.Core.Audit;

/// <summary>
/// Group-commit counters: batches (one write + one fdatasync each), records, mean batch size,
/// microseconds per record spent chaining/signing/encoding, and per batch spent writing + syncing;
/// how many times the writer role went to a ledger thread (a thread-pool writer with work waiting, or work queued as the role was released).
/// </summary>
internal sealed record LedgerStats(long Batches, long Records, double MeanBatch, double BuildMicrosPerRecord, double WriteSyncMicrosPerBatch, long HandedOffBatches = 0);
