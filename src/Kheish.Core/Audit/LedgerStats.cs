namespace Kheish.Core.Audit;

/// <summary>
/// Group-commit counters: batches (one write + one fdatasync each), records, mean batch size,
/// microseconds per record spent chaining/signing/encoding, and per batch spent writing + syncing;
/// how many batches synced on a ledger sync thread while their writer built the next one (pipelined).
/// </summary>
internal sealed record LedgerStats(long Batches, long Records, double MeanBatch, double BuildMicrosPerRecord, double WriteSyncMicrosPerBatch, long PipelinedBatches = 0);
