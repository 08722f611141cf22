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
    IReadOnlyList<UnavailableBucket> UnavailableBuckets)
{
    /// <summary>Why the transparency log is frozen (it then publishes no checkpoints), or null.</summary>
    public string? TransparencyLogProblem { get; init; }
}
