using Kheish.Daemon.Cli;
using Kheish.Daemon.Http.ControlPlane;

namespace Kheish.Daemon.Http;

internal sealed record StatusResponse(
    string Version,
    string StateRoot,
    long StartedAtMs,
    long UptimeMs,
    string ControlPlaneAuth,
    IReadOnlyDictionary<string, string> Checks);

internal static class StatusEndpoints
{
    public static void MapStatusEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/status", (DaemonContext daemon, ControlPlaneAuthOptions auth) =>
        {
            DateTimeOffset now = daemon.Clock.GetUtcNow();
            return TypedResults.Ok(new StatusResponse(
                KheishCli.Version,
                daemon.StateRoot.FullPath,
                daemon.StartedAt.ToUnixTimeMilliseconds(),
                (long)(now - daemon.StartedAt).TotalMilliseconds,
                auth.Describe(),
                daemon.ReadinessChecks()));
        }).AllowReadOnly();
    }
}
