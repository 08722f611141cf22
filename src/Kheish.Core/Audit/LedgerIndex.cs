using System.Text.Json.Serialization;

namespace Kheish.Core.Audit;

/// <summary>
/// <c>external-action-checkpoints/_index.json</c>: every bucket that was ever created, signed.
/// Rewritten (durably) before a new bucket's record file is created, so deleting a whole bucket
/// (records and checkpoint) is detected.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed record LedgerIndex
{
    public required IReadOnlyList<string> Buckets { get; init; }
    public required string SignatureAlg { get; init; }
    public required string KeyId { get; init; }
    public required string Signature { get; init; }
}
