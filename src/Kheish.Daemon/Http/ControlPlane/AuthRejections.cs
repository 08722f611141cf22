using System.Net;

namespace Kheish.Daemon.Http.ControlPlane;

/// <summary>
/// Every rejection of either plane (bad token or API key, foreign Host or Origin) goes through
/// here: the failure limiter is consulted first, so a client past the limit costs one counter
/// increment instead of an audit-log line.
/// </summary>
/// <remarks>
/// Each plane counts on its own: an agent hammering bad API keys must not push the operator's
/// control-plane mistakes past the limit, nor the other way round.
/// </remarks>
internal sealed class AuthRejections(FailureRateLimiter limiter, AuthAuditLog audit, TimeProvider clock)
{
    private readonly FailureRateLimiter _agentLimiter = new(clock, limiter.Limit);

    /// <summary>
    /// Logs and counts one rejection. Returns the seconds until the client is under the limit
    /// again when it is already past it (the event is then only counted as dropped), else null.
    /// </summary>
    public int? Record(HttpContext context, string ev, string reason, string? origin = null, string? requiredAccess = null)
    {
        IPAddress client = ClientAddress.Of(context);
        FailureRateLimiter planeLimiter = LimiterFor(context.Request.Path);
        if (planeLimiter.RetryAfterSeconds(client) is { } retryAfter)
        {
            audit.CountDropped(reason);
            return retryAfter;
        }

        audit.Record(Event(context, client, ev, reason, origin, requiredAccess));
        if (planeLimiter.RecordFailure(client))
        {
            audit.Record(Event(context, client, "rate_limited", "rate_limited", null, null));
        }

        return null;
    }

    internal FailureRateLimiter LimiterFor(PathString path) => Planes.Of(path) == Plane.Agent ? _agentLimiter : limiter;

    private AuthAuditEvent Event(HttpContext context, IPAddress client, string ev, string reason, string? origin, string? requiredAccess) => new(
        clock.GetUtcNow().ToUnixTimeMilliseconds(),
        ev,
        context.Request.Method,
        context.Request.Path.Value ?? "/",
        reason,
        origin,
        client.ToString(),
        requiredAccess,
        reason == "host_not_allowed" ? context.Request.Host.Value : null);
}
