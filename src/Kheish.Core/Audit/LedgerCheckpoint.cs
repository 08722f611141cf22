using System.Text.Json.Serialization;

namespace Kheish.Core.Audit;

/// <summary>
/// <c>external-action-checkpoints/&lt;bucket&gt;.json</c>: how long the bucket was, signed.
/// Written before a bucket's first record (count 0) and then shortly after appends.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed record LedgerCheckpoint
{
    public required string Bucket { get; init; }
    public required long RecordCount { get; init; }
    public string? LastRecordHash { get; init; }
    public required string SignatureAlg { get; init; }
    public required string KeyId { get; init; }
    public required string Signature { get; init; }
}
