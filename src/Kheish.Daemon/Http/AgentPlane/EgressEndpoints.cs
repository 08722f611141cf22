namespace Kheish.Daemon.Http.AgentPlane;

/// <summary>The provider egress proxy on the agent plane: every method, any path under a route.</summary>
internal static class EgressEndpoints
{
    public const string Pattern = "/agent/v1/routes/{route}/{**path}";

    public static void MapEgressEndpoints(this IEndpointRouteBuilder app)
    {
        IServiceProvider services = app.ServiceProvider;
        var proxy = new EgressProxy(
            services.GetRequiredService<DaemonContext>(),
            services.GetRequiredService<ServeSettings>().Egress ?? EgressOptions.Default,
            services.GetRequiredService<ILoggerFactory>().CreateLogger("Kheish.Daemon.Egress"));
        app.Map(Pattern, (RequestDelegate)proxy.HandleAsync).ExcludeFromDescription();
    }
}
