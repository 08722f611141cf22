namespace Kheish.Daemon.Http.ControlPlane;

internal enum AccessLevel
{
    ReadOnly,
    Admin,
}

/// <summary>
/// What the control-plane middleware established for a request: the access its token grants,
/// and the instant (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>) as of which it
/// checked the token files, so the endpoint's own file checks can share that inotify read
/// (see <c>FileChangeWatch.Generation(long)</c>).
/// </summary>
internal sealed record ControlPlaneRequest(AccessLevel Granted, long CheckedAt)
{
    /// <summary>The middleware's record for this request, or null when control-plane auth is off.</summary>
    public static ControlPlaneRequest? Of(HttpContext context) =>
        context.Items.TryGetValue(typeof(ControlPlaneRequest), out object? value) ? value as ControlPlaneRequest : null;

    /// <summary>The instant the request's file checks are made as of: the middleware's, else now.</summary>
    public static long CheckedSince(HttpContext context) => Of(context)?.CheckedAt ?? System.Diagnostics.Stopwatch.GetTimestamp();
}

/// <summary>
/// Endpoint metadata: a read-only token may call this endpoint with GET/HEAD/OPTIONS.
/// Endpoints without it (and unknown paths) need the admin token, whatever the method.
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class)]
internal sealed class ReadOnlyAllowedAttribute : Attribute;

internal static class AccessEndpointExtensions
{
    public static TBuilder AllowReadOnly<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ReadOnlyAllowedAttribute());
}
