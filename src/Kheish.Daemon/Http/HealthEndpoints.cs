namespace Kheish.Daemon.Http;

/// <summary><c>/healthz</c> and <c>/readyz</c>: outside auth, and they reveal nothing sensitive.</summary>
internal static class HealthEndpoints
{
    private static readonly HealthResponse Healthy = new("ok");

    public static void MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => new PipeJsonResult<HealthResponse>(Healthy, HttpJsonContext.Default.HealthResponse));
        app.MapGet("/readyz", (DaemonContext daemon) =>
        {
            Dictionary<string, string> checks = daemon.ReadinessChecks();
            bool ready = checks.Values.All(v => v == "ok");
            return new PipeJsonResult<ReadyResponse>(
                new ReadyResponse(ready ? "ready" : "not_ready", checks),
                HttpJsonContext.Default.ReadyResponse,
                ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });
    }
}
