namespace Kheish.Core.Broker;

/// <summary>
/// A session subject (<c>session:&lt;id&gt;</c>) and the credential scope it was created
/// with, already intersected with its parent's. Leases issued for the session use
/// <see cref="Scope"/> as their effective scope. <see cref="CapabilityScope"/> (what it may see
/// and call through the MCP gateway) is likewise already intersected with the parent's; null: no bound.
/// </summary>
internal sealed record SessionRecord(
    string SessionId,
    string SubjectId,
    CredentialScope Scope,
    string? ParentSessionId,
    long CreatedAtMs,
    Policy.CapabilityScope? CapabilityScope = null);

/// <summary>On-disk shape of <c>auth/sessions.json</c>.</summary>
internal sealed record SessionState
{
    public const int CurrentVersion = 1;
    public const string Purpose = "sessions";

    public int Version { get; init; } = CurrentVersion;
    public Dictionary<string, SessionRecord> Sessions { get; init; } = [];
}
