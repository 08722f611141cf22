namespace Kheish.Core.Audit;

/// <summary>The result of verifying one bucket.</summary>
internal sealed record BucketVerification(
    string Bucket,
    string File,
    long Records,
    long? CheckpointRecords,
    string? KeyId,
    long TornTailBytes,
    VerifyFailure? Failure)
{
    public bool Ok => Failure is null;
}

/// <summary>What <c>runs verify</c> prints: OK with counts, or the first bad bucket and record.</summary>
internal sealed record VerifyReport(
    bool Ok,
    int Buckets,
    long Records,
    string? PinnedKeyId,
    IReadOnlyList<string> KeyIds,
    string? FirstFailureBucket,
    VerifyFailure? FirstFailure,
    IReadOnlyList<BucketVerification> Results);
