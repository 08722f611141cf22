namespace Kheish.Core.Storage;

/// <summary>The layout of a state root (DESIGN.md "State root"). Paths only; no I/O.</summary>
internal sealed record StateRoot(string Path)
{
    public const string DefaultPath = ".kheish-daemon";
    public const string EnvironmentVariable = "KHEISH_STATE_ROOT";

    public string FullPath { get; } = System.IO.Path.GetFullPath(Path);

    public string LockFile => Combine("daemon.lock");
    public string AuthDirectory => Combine("auth");
    public string SlotsFile => Combine("auth", "global-slots.json");
    public string BrokerStateFile => Combine("auth", "global-slots.broker-state.json");
    public string McpOauthClientsFile => Combine("auth", "mcp-oauth-clients.json");
    public string AuditSigningKeyFile => Combine("audit-signing.key");
    public string ExternalActionsDirectory => Combine("external-actions");
    public string CheckpointsDirectory => Combine("external-action-checkpoints");
    public string ControlPlaneAuditFile => Combine("control-plane-auth", "audit.jsonl");
    public string ControlPlaneAdminTokenFile => Combine("control-plane-auth", "admin.token");
    public string ConnectorsFile => Combine("connectors.json");
    public string McpServersFile => Combine("mcp-servers.json");
    public string McpApprovalsFile => Combine("mcp-approvals.json");

    /// <summary>Creates the root (0700) if missing and tightens it if it is wider.</summary>
    public void EnsureExists() => PrivateDirectory.Ensure(FullPath);

    private string Combine(params string[] parts) => System.IO.Path.Combine([FullPath, .. parts]);
}
