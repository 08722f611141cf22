namespace Kheish.Core.Routes;

/// <summary>A validated routes file: routes in file order and the route used when a request names none.</summary>
internal sealed record RoutesConfig(int Version, RouteId DefaultRoute, IReadOnlyList<RouteDefinition> Routes)
{
    public RouteDefinition? Find(RouteId id)
    {
        foreach (RouteDefinition route in Routes)
        {
            if (route.Id == id)
            {
                return route;
            }
        }

        return null;
    }

    public RouteDefinition Default => Find(DefaultRoute)!;
}
