using System.Net;
using System.Security.Cryptography;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Http.ControlPlane;

/// <summary>
/// Guards every control-plane path: origin check, bearer token, then the endpoint's access
/// level. A failure counts in the failure limiter; a client past the limit gets 429 for bad
/// tokens only — a valid token is never refused. Agent-plane and health paths are not handled
/// here; a control-plane token never opens the agent plane.
/// </summary>
internal sealed class ControlPlaneAuthMiddleware(
    RequestDelegate next,
    ControlPlaneAuthOptions options,
    AuthRejections rejections,
    OriginPolicy origins)
{
    public async Task InvokeAsync(HttpContext context)
    {
        HttpRequest request = context.Request;

        string? origin = request.Headers.Origin;
        if (!string.IsNullOrEmpty(origin))
        {
            if (!origins.IsAllowed(origin))
            {
                _ = rejections.Record(context, "cors_rejected", "origin_not_allowed", origin: Printable(origin));
                await ProblemResults.WriteAsync(context, KheishError.Forbidden(
                    "origin_not_allowed", $"origin '{Printable(origin)}' is not allowed; only loopback origins and --cors-allow-origin entries are"));
                return;
            }

            context.Response.Headers.AccessControlAllowOrigin = origin;
            context.Response.Headers.Vary = "Origin";
            if (HttpMethods.IsOptions(request.Method) && request.Headers.ContainsKey("Access-Control-Request-Method"))
            {
                context.Response.Headers.AccessControlAllowMethods = "GET, HEAD, POST, PUT, DELETE, OPTIONS";
                context.Response.Headers.AccessControlAllowHeaders = "Authorization, Content-Type";
                context.Response.Headers.AccessControlMaxAge = "600";
                context.Response.StatusCode = StatusCodes.Status204NoContent;
                return;
            }
        }

        if (!options.Enabled)
        {
            await next(context);
            return;
        }

        AccessLevel required = RequiredAccess(context);
        // The token files are checked as of this instant; the endpoint checks its files as of it too.
        long checkedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        KheishError? failure = Authenticate(request, required, checkedAt, out AccessLevel? granted);
        if (failure is not null)
        {
            // A valid read-only token on an admin endpoint is not a guess: it gets its 403, never a 429.
            if (rejections.Record(context, "auth_failed", failure.Code, requiredAccess: required == AccessLevel.Admin ? "admin" : "read_only") is { } retryAfter
                && failure.Code != "insufficient_access")
            {
                context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await ProblemResults.WriteAsync(context, new KheishError("rate_limited", ErrorKind.RateLimited,
                    $"too many failed authentication attempts from {ClientAddress.Of(context)}; retry in {retryAfter} s (a valid token is not affected)"));
                return;
            }

            if (failure.Kind == ErrorKind.Unauthorized)
            {
                context.Response.Headers.WWWAuthenticate = failure.Code == "missing_token"
                    ? "Bearer realm=\"kheish-daemon\""
                    : $"Bearer realm=\"kheish-daemon\", error=\"invalid_token\"";
            }

            await ProblemResults.WriteAsync(context, failure);
            return;
        }

        context.Items[typeof(ControlPlaneRequest)] = new ControlPlaneRequest(granted!.Value, checkedAt);
        await next(context);
    }

    private KheishError? Authenticate(HttpRequest request, AccessLevel required, long checkedAt, out AccessLevel? granted)
    {
        granted = null;
        string? header = request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
        {
            return KheishError.Unauthorized("missing_token", "this endpoint needs a bearer token: Authorization: Bearer <token>");
        }

        int space = header.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0 || !header.AsSpan(0, space).Equals("Bearer", StringComparison.OrdinalIgnoreCase)
            || header.AsSpan(space + 1).Trim().IsEmpty)
        {
            return KheishError.Unauthorized("malformed_token", "the Authorization header must be 'Bearer <token>'");
        }

        byte[] presented = BearerTokenSource.Digest(header[(space + 1)..].Trim());
        // Both token files are checked as of one instant: one inotify read answers for both.
        byte[]? admin = options.Admin?.CurrentDigest(checkedAt);
        byte[]? ro = options.Readonly?.CurrentDigest(checkedAt);
        bool isAdmin = admin is not null && CryptographicOperations.FixedTimeEquals(presented, admin);
        bool isReadonly = ro is not null && CryptographicOperations.FixedTimeEquals(presented, ro);
        if (isAdmin && isReadonly)
        {
            // Rotated into equal tokens at runtime: refuse both rather than guess (fail closed).
            return KheishError.Unauthorized("invalid_token", "the admin and read-only tokens are identical; fix the token files");
        }

        if (isAdmin)
        {
            granted = AccessLevel.Admin;
            return null;
        }

        if (!isReadonly)
        {
            return KheishError.Unauthorized("invalid_token", "the bearer token is not valid for the control plane");
        }

        if (required == AccessLevel.ReadOnly)
        {
            granted = AccessLevel.ReadOnly;
            return null;
        }

        return KheishError.Forbidden("insufficient_access", "this request needs the admin token; the read-only token only allows safe GETs on inspection endpoints");
    }

    private static AccessLevel RequiredAccess(HttpContext context)
    {
        string method = context.Request.Method;
        bool safe = HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method);
        return safe && context.GetEndpoint()?.Metadata.GetMetadata<ReadOnlyAllowedAttribute>() is not null
            ? AccessLevel.ReadOnly
            : AccessLevel.Admin;
    }

    private static string Printable(string s)
    {
        Span<char> buffer = stackalloc char[Math.Min(s.Length, 200)];
        for (int i = 0; i < buffer.Length; i++)
        {
            buffer[i] = char.IsControl(s[i]) ? '?' : s[i];
        }

        return new string(buffer);
    }
}

/// <summary>The client address is the socket's, normalised as the agent plane does (IPv4-mapped IPv6, zone ids).</summary>
internal static class ClientAddress
{
    public static IPAddress Of(HttpContext context) =>
        Kheish.Core.Access.IpRule.Normalize(context.Connection.RemoteIpAddress ?? IPAddress.None);
}
