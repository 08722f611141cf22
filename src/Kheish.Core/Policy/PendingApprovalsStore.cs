using System.Text.Json;
using System.Text.Json.Serialization;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Policy;

/// <summary>
/// One held tool call, as <c>mcp-approvals.json</c> remembers it: enough to write its
/// <c>approval_abandoned</c> record into the right ledger bucket after a restart. Never the
/// arguments (only their digest).
/// </summary>
internal sealed record PendingApprovalEntry(
    string Id,
    string Server,
    string Tool,
    string ArgsDigest,
    string PrincipalId,
    long RequestedAtMs,
    long ExpiresAtMs)
{
    public string? ParentPrincipalId { get; init; }
    public string? RunId { get; init; }
    public string? SessionId { get; init; }
    public string? AgentId { get; init; }
    public string? ToolCallId { get; init; }
    public string? GrantId { get; init; }
    public string? LeaseId { get; init; }
}

internal sealed record PendingApprovalsFileContent(int Version, IReadOnlyList<PendingApprovalEntry> Pending);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(PendingApprovalsFileContent))]
internal sealed partial class PolicyJsonContext : JsonSerializerContext;

/// <summary>
/// <c>&lt;state_root&gt;/mcp-approvals.json</c> (0600, atomic writes): the approvals still waiting
/// for a decision. An entry is added after its <c>approval_requested</c> record is durable and
/// removed once its outcome is; whatever a restart finds here was never decided, and is closed
/// as abandoned — a held call is never run later.
/// </summary>
internal sealed class PendingApprovalsStore(StateRoot root)
{
    public const int SupportedVersion = 1;

    private readonly Lock _gate = new();
    private readonly List<PendingApprovalEntry> _pending = [];

    public string FilePath => root.McpApprovalsFile;

    /// <summary>What the file holds (what the last run left undecided).</summary>
    public Result<IReadOnlyList<PendingApprovalEntry>> Load()
    {
        byte[]? bytes;
        try
        {
            bytes = AtomicFile.ReadOrNull(FilePath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Misconfigured("mcp_approvals_unreadable", $"cannot read {FilePath} ({ex.GetType().Name}); check its permissions");
        }

        if (bytes is null)
        {
            return Result<IReadOnlyList<PendingApprovalEntry>>.Ok([]);
        }

        try
        {
            PendingApprovalsFileContent? content = JsonSerializer.Deserialize(bytes, PolicyJsonContext.Default.PendingApprovalsFileContent);
            if (content is null || content.Version != SupportedVersion)
            {
                return new KheishError("mcp_approvals_version", ErrorKind.SchemaMismatch, $"{FilePath} has version {content?.Version}; this build reads version {SupportedVersion}");
            }

            lock (_gate)
            {
                _pending.Clear();
                _pending.AddRange(content.Pending);
            }

            return Result<IReadOnlyList<PendingApprovalEntry>>.Ok(content.Pending);
        }
        catch (JsonException ex)
        {
            return KheishError.Misconfigured("mcp_approvals_invalid", $"{FilePath} is not a valid approvals file ({(ex.Path is { } p ? "at " + p : "malformed JSON")}); fix or remove it");
        }
    }

    public Result<bool> Add(PendingApprovalEntry entry)
    {
        lock (_gate)
        {
            _pending.Add(entry);
            if (Save() is { } error)
            {
                _pending.Remove(entry);
                return error;
            }

            return true;
        }
    }

    public Result<bool> Remove(string id)
    {
        lock (_gate)
        {
            int at = _pending.FindIndex(e => e.Id == id);
            if (at < 0)
            {
                return false;
            }

            PendingApprovalEntry entry = _pending[at];
            _pending.RemoveAt(at);
            if (Save() is { } error)
            {
                _pending.Insert(at, entry);
                return error;
            }

            return true;
        }
    }

    private KheishError? Save()
    {
        try
        {
            AtomicFile.Write(FilePath, JsonSerializer.SerializeToUtf8Bytes(
                new PendingApprovalsFileContent(SupportedVersion, [.. _pending]), PolicyJsonContext.Default.PendingApprovalsFileContent));
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Unavailable("mcp_approvals_unwritable", $"cannot write {FilePath}: {IoReason.Of(ex)}");
        }
    }
}
