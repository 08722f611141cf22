using Kheish.Core.Access;
using Kheish.Daemon.Cli;
using Kheish.Daemon.Http.ControlPlane;

namespace Kheish.Daemon.Http;

internal sealed record StatusResponse(
    string Version,
    string StateRoot,
    long StartedAtMs,
    long UptimeMs,
    string ControlPlaneAuth,
    bool MasterKeyConfigured,
    bool BrokerStateEncrypted,
    int Routes,
    string AgentPlaneMode,
    string AgentPlaneConfig,
    string AuditKeyId,
    string Ed25519Backend,
    IReadOnlyList<Kheish.Core.Audit.UnavailableBucket> UnavailableAuditBuckets,
    IReadOnlyDictionary<string, string> Checks,
    IReadOnlyDictionary<string, long>? AuthAuditDropped = null,
    string? AgentPlaneConfigFile = null,
    string? AgentPlaneConfigOrigin = null);

internal static class StatusEndpoints
{
    public static void MapStatusEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/status", (HttpContext context, DaemonContext daemon, ControlPlaneAuthOptions auth, AuthAuditLog authAudit) =>
        {
            DateTimeOffset now = daemon.Clock.GetUtcNow();
            long serving = ControlPlaneRequest.CheckedSince(context);
            Kheish.Core.Access.SecurityConfigSnapshot agent = daemon.AgentSecurity.Current(serving);
            Kheish.Core.Audit.LedgerHealth audit = daemon.Ledger.Health;
            return new PipeJsonResult<StatusResponse>(new StatusResponse(
                KheishCli.Version,
                daemon.StateRoot.FullPath,
                daemon.StartedAt.ToUnixTimeMilliseconds(),
                (long)(now - daemon.StartedAt).TotalMilliseconds,
                auth.Describe(),
                daemon.MasterKeyConfigured,
                !daemon.Broker.IsPlainStorage,
                daemon.Routes?.Routes.Count ?? 0,
                agent.IsValid ? agent.Config!.Mode.Name() : "invalid",
                agent.Describe(),
                audit.KeyId,
                Kheish.Core.Crypto.Libsodium.Ed25519Backend,
                audit.UnavailableBuckets,
                daemon.ReadinessChecks(agent, audit, serving),
                authAudit.Dropped,
                agent.File,
                agent.OriginName), HttpJsonContext.Default.StatusResponse);
        }).AllowReadOnly();
    }
}
