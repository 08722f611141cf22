namespace Kheish.Daemon.Http.ControlPlane;

internal enum AccessLevel
{
    ReadOnly,
    Admin,
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
