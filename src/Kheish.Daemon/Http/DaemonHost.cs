using System.Net;
using Kheish.Core.Access;
using Kheish.Core.Storage;
using Kheish.Daemon.Http.AgentPlane;
using Kheish.Daemon.Http.ControlPlane;
using Kheish.Daemon.Http.Mcp;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging.Console;

namespace Kheish.Daemon.Http;

/// <summary>Everything <c>serve</c> validated before the host is built.</summary>
internal sealed record ServeSettings(
    IPEndPoint Bind,
    StateRoot StateRoot,
    ControlPlaneAuthOptions Auth,
    IReadOnlyCollection<string> CorsOrigins,
    long MaxRequestBodyBytes,
    SecurityConfigSource AgentSecurity,
    EgressOptions? Egress = null,
    IReadOnlyCollection<string>? AllowedHosts = null,
    Mcp.McpSetup? Mcp = null);

/// <summary>Builds the ASP.NET Core application: slim builder, one listener, two planes.</summary>
internal static class DaemonHost
{
    /// <summary>The MCP SDK sessions' categories: their failure lines quote tool names and upstream text, so they are silenced whatever the configuration says.</summary>
    private static readonly string[] McpSessionCategories = ["ModelContextProtocol.Server.McpServer", "ModelContextProtocol.Client.McpClient"];

    /// <summary>
    /// How long a stop (SIGTERM/SIGINT) waits for in-flight requests before it aborts them. The
    /// host's 30 s default outlasts the grace period of `docker stop` (10 s), after which the
    /// daemon would be SIGKILLed mid-shutdown with its lease journal unflushed.
    /// </summary>
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    public static WebApplication Build(ServeSettings settings, DaemonContext daemon)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = "Production",
        });

        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = ShutdownTimeout);
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        // Hosting's request diagnostics log nothing at Warning or above once the host runs (request
        // lines are Information), yet while that category is enabled at all it starts an Activity
        // and a log scope for every request: ~3-6% of a GET /v1/status (perf, issue 16). Startup
        // failures still reach the operator (serve prints them; Microsoft.Extensions.Hosting logs).
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        // The MCP SDK logs every request (method names, and at debug the messages: tool names and
        // arguments) below Warning; its sessions log each failed request with the exception text,
        // which carries caller-chosen names and upstream messages that can echo arguments. The
        // gateway logs its own events (server, error code) under Kheish.Mcp instead.
        builder.Logging.AddFilter("ModelContextProtocol", LogLevel.Warning);
        // The daemon's logging configuration is its own: an environment override such as
        // Logging__LogLevel__Microsoft.AspNetCore=Information would make the framework log
        // request lines, query strings included (keys can travel there). Framework categories
        // never go below Warning, whatever the configuration says.
        builder.Services.PostConfigure<LoggerFilterOptions>(o =>
        {
            for (int i = o.Rules.Count - 1; i >= 0; i--)
            {
                LoggerFilterRule r = o.Rules[i];
                bool tooVerbose = r.LogLevel is { } level
                    && (r.CategoryName is { } c ? IsFrameworkCategory(c) && level < LogLevel.Warning : level < LogLevel.Information);
                if (tooVerbose || r.CategoryName is { } mcp && McpSessionCategories.Any(m => mcp.StartsWith(m, StringComparison.OrdinalIgnoreCase)))
                {
                    o.Rules.RemoveAt(i);
                }
            }

            foreach (string category in McpSessionCategories)
            {
                o.Rules.Add(new LoggerFilterRule(null, category, LogLevel.None, null));
            }
        });

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = settings.MaxRequestBodyBytes;
            k.Limits.MaxRequestHeadersTotalSize = 64 * 1024;
            k.Listen(settings.Bind, l => l.Protocols = HttpProtocols.Http1);
        });
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            // Identical to HttpJsonContext's own options: the context supplies metadata, these the policy.
            o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull;
            o.SerializerOptions.UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, HttpJsonContext.Default);
            o.SerializerOptions.TypeInfoResolverChain.Add(Kheish.Core.Connectors.ConnectorsWireJsonContext.Default);
        });

        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(daemon);
        builder.Services.AddSingleton(settings.Auth);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sp => new FailureRateLimiter(sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton(new AuthAuditLog(settings.StateRoot));
        builder.Services.AddSingleton<AuthRejections>();
        builder.Services.AddSingleton(new HostPolicy(settings.Bind.Address, settings.AllowedHosts ?? []));
        builder.Services.AddSingleton(new OriginPolicy(settings.CorsOrigins));
        builder.Services.AddSingleton(settings.AgentSecurity);
        builder.Services.AddSingleton(sp => new Mcp.McpApprovals(daemon, sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton(sp => new Mcp.McpHub(
            settings.Mcp ?? new Mcp.McpSetup([], new Core.Mcp.McpServersStore(settings.StateRoot), []), daemon, sp.GetRequiredService<ILoggerFactory>(),
            sp.GetRequiredService<Mcp.McpApprovals>()));
        builder.Services.AddMcpGateway();

        builder.Services.AddOpenApi("v1", o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info.Title = "kheish-daemon";
            doc.Info.Description = "Control plane (/v1, bearer admin/read-only tokens) and agent plane (/agent, /mcp, API keys).";
            // The egress proxy is one catch-all endpoint for every method; describe it by hand.
            var proxy = new Microsoft.OpenApi.OpenApiOperation
            {
                Summary = "Forward to the route's provider with its key injected (any method)",
                Description = "Agent plane (X-API-Key). The agent's own credential headers are stripped; the call is " +
                    "recorded (started before the upstream call, completed after) in the signed ledger, tagged with " +
                    "X-Kheish-Run-Id, X-Kheish-Session-Id, X-Kheish-Agent-Id and X-Kheish-Tool-Call-Id. " +
                    "Use the route id 'default' for the routes file's default_route.",
            };
            doc.Paths ??= new Microsoft.OpenApi.OpenApiPaths();
            doc.Paths["/agent/v1/routes/{route}/{path}"] = new Microsoft.OpenApi.OpenApiPathItem
            {
                Operations = new Dictionary<HttpMethod, Microsoft.OpenApi.OpenApiOperation>
                {
                    [HttpMethod.Get] = proxy,
                    [HttpMethod.Post] = proxy,
                },
            };
            return Task.CompletedTask;
        }));

        WebApplication app = builder.Build();
        app.Lifetime.ApplicationStopping.Register(() => app.Services.GetRequiredService<Mcp.McpApprovals>().AbandonAll());
        app.UseMiddleware<LastResortMiddleware>();
        app.UseStatusCodePages(async ctx =>
        {
            if (!ctx.HttpContext.Response.HasStarted && ctx.HttpContext.Response.ContentType is null)
            {
                await ProblemResults.WriteForBareStatusAsync(ctx.HttpContext);
            }
        });
        app.UseMiddleware<HostCheckMiddleware>();
        app.UseRouting();
        app.UseWhen(c => Planes.Of(c.Request.Path) == Plane.Control, control => control.UseMiddleware<ControlPlaneAuthMiddleware>());
        app.UseWhen(c => Planes.Of(c.Request.Path) == Plane.Agent, agent => agent.UseMiddleware<AgentPlaneAuthMiddleware>());

        app.MapHealthEndpoints();
        app.MapStatusEndpoints();
        app.MapSecretsEndpoints();
        app.MapRuntimeEndpoints();
        app.MapUsageEndpoints();
        Metrics.MetricsEndpoints.MapMetricsEndpoints(app);
        app.MapAgentEndpoints();
        app.MapEgressEndpoints();
        app.MapBrokerEndpoints();
        app.MapAccountsEndpoints();
        app.MapRunsEndpoints();
        app.MapAuditLogEndpoints();
        app.MapSecurityEndpoints();
        app.MapConnectorsEndpoints();
        app.MapConnectorPlaneEndpoints();
        app.MapMcpGateway();
        app.MapMcpEndpoints();
        app.MapApprovalsEndpoints();
        app.MapOpenApi("/v1/openapi.json").AllowReadOnly();
        return app;
    }

    private static bool IsFrameworkCategory(string category) =>
        category.StartsWith("Microsoft", StringComparison.OrdinalIgnoreCase) || category.StartsWith("System", StringComparison.OrdinalIgnoreCase)
        || category.StartsWith("ModelContextProtocol", StringComparison.OrdinalIgnoreCase);
}

internal enum Plane
{
    Public,
    Control,
    Agent,

    /// <summary>Connector ingress and sidecar endpoints: each connector's own authentication, no plane token.</summary>
    Connector,
}

/// <summary>
/// Which plane a path belongs to. Everything not public or agent is control plane (admin by
/// default). Case-insensitive, exactly as endpoint routing matches: <c>/AGENT/v1/whoami</c>
/// routes to the agent endpoint, so it must be guarded as the agent plane.
/// </summary>
internal static class Planes
{
    private const StringComparison Cmp = StringComparison.OrdinalIgnoreCase;

    public static Plane Of(PathString path)
    {
        string p = path.Value ?? "/";
        if (p.Equals("/healthz", Cmp) || p.Equals("/readyz", Cmp))
        {
            return Plane.Public;
        }

        if (p.StartsWith("/v1/connectors/", Cmp))
        {
            return Plane.Connector;
        }

        if (p.StartsWith("/agent/", Cmp) || p.Equals("/agent", Cmp)
            || p.Equals("/mcp", Cmp) || p.StartsWith("/mcp/", Cmp)
            || p.StartsWith("/.well-known/oauth-", Cmp)
            || p.StartsWith("/.well-known/openid-configuration", Cmp)
            || p.Equals("/register", Cmp) || p.Equals("/authorize", Cmp) || p.Equals("/token", Cmp))
        {
            return Plane.Agent;
        }

        return Plane.Control;
    }
}
