using Kheish.Core.Routes;
using Kheish.Daemon.Http.ControlPlane;

namespace Kheish.Daemon.Http;

internal sealed record RouteView(
    string Id,
    string Driver,
    string DefaultModel,
    string ModelSupport,
    string BaseUrl,
    string CredentialSource,
    string? AuthRef,
    bool IsDefault);

internal sealed record RuntimeResponse(string? DefaultRoute, IReadOnlyList<RouteView> Routes, Mcp.McpRuntimeView? Mcp = null, Kheish.Core.Transparency.WitnessesView? Witnesses = null);

/// <summary><c>GET /v1/runtime</c>: the routes in force (driver, model, auth_ref — never a key), MCP servers, and the transparency log's witnesses.</summary>
internal static class RuntimeEndpoints
{
    public static void MapRuntimeEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/runtime", (DaemonContext daemon, Mcp.McpHub mcp) =>
        {
            RoutesConfig? routes = daemon.Routes;
            IReadOnlyList<RouteView> views = routes is null
                ? []
                : [.. routes.Routes.Select(r => new RouteView(
                    r.Id.ToString(),
                    r.Driver.Name,
                    r.DefaultModel,
                    r.ModelSupport.ToString().ToLowerInvariant(),
                    r.BaseUrlText,
                    r.Credential.Field,
                    (r.Credential as RouteCredential.AuthRef)?.SlotId,
                    r.Id == routes.DefaultRoute))];
            var servers = new Mcp.McpRuntimeView([.. mcp.Servers.Select(Mcp.McpServerView.Of)], mcp.Redactions);
            return TypedResults.Ok(new RuntimeResponse(routes?.DefaultRoute.ToString(), views, servers, daemon.Ledger.Witnesses?.View));
        }).AllowReadOnly();
    }
}
