using Kheish.Daemon.Http.ControlPlane;

namespace Kheish.Daemon.Http.Metrics;

/// <summary><c>GET /metrics</c>: Prometheus text format, control plane, admin or read-only token.</summary>
internal static class MetricsEndpoints
{
    public static void MapMetricsEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/metrics", (DaemonContext daemon) => TypedResults.Text(daemon.Metrics.Render(daemon), PrometheusText.ContentType))
            .AllowReadOnly();
    }
}
