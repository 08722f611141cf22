using System.Text.Json.Serialization;

namespace Kheish.Core.Audit;

/// <summary>
/// One line of <c>external-actions/&lt;bucket&gt;.jsonl</c> (Kheish reference §10). The line is
/// written by <see cref="LedgerEncoding.RecordLine"/>, a canonical form: a verifier re-encodes
/// the parsed record and rejects any line whose bytes differ, so no byte can change silently.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
internal sealed record LedgerRecord
{
    public required string ActionId { get; init; }
    public required long TimestampMs { get; init; }
    public string? SessionId { get; init; }
    public string? AgentId { get; init; }
    public string? RunId { get; init; }
    public string? ToolCallId { get; init; }
    public string? PrincipalId { get; init; }
    public string? ParentPrincipalId { get; init; }
    public string? GrantId { get; init; }

    /// <summary>The lease the action was authorized by (beyond the reference's fields; omitted when null, so older lines encode as before).</summary>
    public string? LeaseId { get; init; }
    public required string Phase { get; init; }
    public required string Kind { get; init; }
    public required string Target { get; init; }
    public string? RequestDigest { get; init; }
    public string? ResponseDigest { get; init; }
    public string? Outcome { get; init; }

    /// <summary>Beyond the reference, like lease_id: omitted when null, so older lines encode as before.</summary>
    public string? ApiKeyId { get; init; }
    public long? InputTokens { get; init; }
    public long? OutputTokens { get; init; }
    public string? PrevHash { get; init; }
    public required string RecordHash { get; init; }
    public required string SignatureAlg { get; init; }
    public required string KeyId { get; init; }
    public required string Signature { get; init; }
}
