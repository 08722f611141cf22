using Kheish.Core.Access;
using Kheish.Core.Errors;
using Kheish.Daemon.Http.ControlPlane;

namespace Kheish.Daemon.Http.AgentPlane;

/// <summary>
/// Guards every agent-plane path with the API-key model of security.json (re-read on change):
/// origin check, IP allowlist, then the mode's key rule. A control-plane token is just an
/// unknown key here. OAuth discovery probes get a 404 that tells MCP clients to send an API key.
/// </summary>
internal sealed class AgentPlaneAuthMiddleware(RequestDelegate next, SecurityConfigSource security, OriginPolicy origins, AuthRejections rejections)
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
            _ = rejections.Record(context, "agent_cors_rejected", "origin_not_allowed", origin: origin);
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
            // A bad API key counts in the failure limiter (log and CPU protection); past the
            // limit the client gets 429 for bad keys only, a valid key is never refused.
            if (denied.Status == StatusCodes.Status401Unauthorized
                && rejections.Record(context, "agent_auth_failed", denied.Error.Code) is { } retryAfter)
            {
                context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await ProblemResults.WriteAsync(context, new KheishError("rate_limited", ErrorKind.RateLimited,
                    $"too many failed authentication attempts from this network; retry in {retryAfter} s (a valid API key is not affected)"));
                return;
            }

            if (denied.WwwAuthenticate is not null)
            {
                context.Response.Headers.WWWAuthenticate = denied.WwwAuthenticate;
            }

            await ProblemResults.WriteAsync(context, denied.Error, status: denied.Status);
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
