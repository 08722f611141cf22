namespace Kheish.Core.Routes;

/// <summary>Which models a route accepts: its driver's model family only, or any model name.</summary>
internal enum ModelSupport
{
    Family,
    Any,
}
