using Kheish.Core.Access;
using Kheish.Core.Errors;
using Kheish.Daemon.Http.ControlPlane;

namespace Kheish.Daemon.Http.AgentPlane;

/// <summary>
/// Guards every agent-plane path with the API-key model of security.json (re-read on change):
/// origin check, IP allowlist, then the mode's key rule. A control-plane token is just an
/// unknown key here. OAuth discovery probes get a 404 that tells MCP clients to send an API key.
/// </summary>
/// <remarks>
/// Past admission, egress calls and <c>/mcp</c> POSTs of a key are held to its limits
/// (<see cref="Core.Limits.KeyLimiter"/>: budget, max_concurrent, rate_limit; each refusal a 429
/// with its own code and Retry-After) and counted for <c>/metrics</c>.
/// </remarks>
internal sealed class AgentPlaneAuthMiddleware(RequestDelegate next, SecurityConfigSource security, OriginPolicy origins, AuthRejections rejections, DaemonContext daemon)
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

        var allowed = (AgentAccessAllowed)decision;
        context.Features.Set(allowed);
        if (MeteredPlane(request) is not { } plane)
        {
            await next(context);
            return;
        }

        string keyLabel = allowed.KeyId ?? AgentAccessAllowed.AnonymousPrincipal;
        string route = plane == "mcp" ? "mcp" : RouteLabel(context);
        Core.Limits.KeyAdmission admission = Core.Limits.KeyAdmission.None;
        if (allowed.KeyId is not null
            && daemon.Limits.TryAdmit(allowed.KeyId, allowed.Limits, out admission) is { } refusal)
        {
            daemon.Metrics.Limited(keyLabel, refusal.Error.Code);
            daemon.Metrics.Request(plane, route, keyLabel, StatusCodes.Status429TooManyRequests, 0);
            context.Response.Headers.RetryAfter = refusal.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await ProblemResults.WriteAsync(context, refusal.Error);
            return;
        }

        if (!ReferenceEquals(admission, Core.Limits.KeyAdmission.None))
        {
            // The egress proxy and the MCP gateway give the slot back just before the agent sees
            // the answer; the finally below is for every other ending.
            context.Features.Set(admission);
        }

        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            admission.Dispose();
            daemon.Metrics.Request(plane, route, keyLabel, context.Response.StatusCode, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    /// <summary>"egress" for provider calls, "mcp" for MCP POSTs (a session's GET stream and DELETE are not calls), else null.</summary>
    private static string? MeteredPlane(HttpRequest request)
    {
        string path = request.Path.Value ?? "/";
        if (path.StartsWith("/agent/v1/routes/", StringComparison.OrdinalIgnoreCase))
        {
            return "egress";
        }

        return HttpMethods.IsPost(request.Method) && (path.Equals("/mcp", StringComparison.OrdinalIgnoreCase) || path.StartsWith("/mcp/", StringComparison.OrdinalIgnoreCase))
            ? "mcp"
            : null;
    }

    /// <summary>A configured route id (or "default"); anything else is one label, so callers cannot mint series.</summary>
    private string RouteLabel(HttpContext context)
    {
        string name = context.Request.RouteValues["route"] as string ?? "";
        return name == EgressProxy.DefaultRouteName
            ? daemon.Routes?.DefaultRoute.ToString() ?? "unknown"
            : Kheish.Core.Routes.RouteId.TryParse(name, out Kheish.Core.Routes.RouteId id, out _) && daemon.Routes?.Find(id) is not null ? name : "unknown";
    }

    private static bool IsOAuthDiscovery(string path) =>
        path.StartsWith("/.well-known/oauth-", StringComparison.Ordinal)
        || path.StartsWith("/.well-known/openid-configuration", StringComparison.Ordinal)
        || path is "/register" or "/authorize" or "/token";
}
