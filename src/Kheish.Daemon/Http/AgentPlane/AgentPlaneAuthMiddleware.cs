using System.Text.Json;
using Kheish.Core.Access;
using Kheish.Core.Errors;
using Kheish.Daemon.Http.ControlPlane;

namespace Kheish.Daemon.Http.AgentPlane;

/// <summary>
/// Guards every agent-plane path with the API-key model of security.json (re-read on change):
/// origin check, IP allowlist, then the mode's key rule. A control-plane token is just an
/// unknown key here. OAuth discovery probes get a 404 that tells MCP clients to send an API key.
/// </summary>
internal sealed class AgentPlaneAuthMiddleware(RequestDelegate next, SecurityConfigSource security, OriginPolicy origins)
{
    public async Task InvokeAsync(HttpContext context)
    {
        HttpRequest request = context.Request;
        string path = request.Path.Value ?? "/";
        if (IsOAuthDiscovery(path))
        {
            await ProblemResults.WriteAsync(context, KheishError.NotFound(
                "oauth_not_supported",
                "this server does not offer OAuth; authenticate with an API key in the X-API-Key header " +
                "(create one with 'kheish-daemon security generate-key')"));
            return;
        }

        string? origin = request.Headers.Origin;
        if (!string.IsNullOrEmpty(origin) && !origins.IsAllowed(origin))
        {
            await ProblemResults.WriteAsync(context, KheishError.Forbidden(
                "origin_not_allowed", "this origin is not allowed on the agent plane; only loopback origins and --cors-allow-origin entries are"));
            return;
        }

        AgentAccessDecision decision = AgentAccessPolicy.Evaluate(
            security.Current(),
            context.Connection.RemoteIpAddress ?? System.Net.IPAddress.None,
            request.Headers["X-Forwarded-For"].ToString() is { Length: > 0 } xff ? xff : null,
            request.Headers["X-API-Key"].ToString() is { Length: > 0 } key ? key : null,
            request.Headers.Authorization.ToString() is { Length: > 0 } auth ? auth : null);

        if (decision is AgentAccessDenied denied)
        {
            if (denied.WwwAuthenticate is not null)
            {
                context.Response.Headers.WWWAuthenticate = denied.WwwAuthenticate;
            }

            ProblemDetailsBody body = ProblemResults.Body(denied.Error) with { Status = denied.Status };
            context.Response.StatusCode = denied.Status;
            context.Response.ContentType = ProblemResults.ContentType;
            await JsonSerializer.SerializeAsync(context.Response.Body, body, HttpJsonContext.Default.ProblemDetailsBody, context.RequestAborted);
            return;
        }

        context.Features.Set((AgentAccessAllowed)decision);
        await next(context);
    }

    private static bool IsOAuthDiscovery(string path) =>
        path.StartsWith("/.well-known/oauth-", StringComparison.Ordinal)
        || path.StartsWith("/.well-known/openid-configuration", StringComparison.Ordinal)
        || path is "/register" or "/authorize" or "/token";
}
