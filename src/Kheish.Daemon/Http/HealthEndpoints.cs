namespace Kheish.Daemon.Http;

/// <summary><c>/healthz</c> and <c>/readyz</c>: outside auth, and they reveal nothing sensitive.</summary>
internal static class HealthEndpoints
{
    public static void MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => TypedResults.Ok(new HealthResponse("ok")));
        app.MapGet("/readyz", (DaemonContext daemon) =>
        {
            Dictionary<string, string> checks = daemon.ReadinessChecks();
            bool ready = checks.Values.All(v => v == "ok");
            return TypedResults.Json(
                new ReadyResponse(ready ? "ready" : "not_ready", checks),
                HttpJsonContext.Default.ReadyResponse,
                statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });
    }
}
