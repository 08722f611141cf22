using System.Net;

namespace Kheish.Daemon.Http.ControlPlane;

/// <summary>
/// Every rejection of either plane (bad token or API key, foreign Host or Origin) goes through
/// here: the failure limiter is consulted first, so a client past the limit costs one counter
/// increment instead of an audit-log line.
/// </summary>
internal sealed class AuthRejections(FailureRateLimiter limiter, AuthAuditLog audit, TimeProvider clock)
{
    /// <summary>
    /// Logs and counts one rejection. Returns the seconds until the client is under the limit
    /// again when it is already past it (the event is then only counted as dropped), else null.
    /// </summary>
    public int? Record(HttpContext context, string ev, string reason, string? origin = null, string? requiredAccess = null)
    {
        IPAddress client = ClientAddress.Of(context);
        if (limiter.RetryAfterSeconds(client) is { } retryAfter)
        {
            audit.CountDropped(reason);
            return retryAfter;
        }

        audit.Record(Event(context, client, ev, reason, origin, requiredAccess));
        if (limiter.RecordFailure(client))
        {
            audit.Record(Event(context, client, "rate_limited", "rate_limited", null, null));
        }

        return null;
    }

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
