using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using Kheish.Core.Access;
using Kheish.Core.Broker;
using Kheish.Core.Egress;
using Kheish.Core.Errors;
using Kheish.Daemon.Http.AgentPlane;
using ModelContextProtocol;
using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Kheish.Daemon.Http.Mcp;

/// <summary>
/// <c>/mcp</c> on the agent plane: the official SDK's Streamable HTTP server in hybrid session
/// mode (2025-11-25 clients get an <c>initialize</c> session, 2026-07-28 clients are served
/// statelessly), with handlers that aggregate the upstreams the caller's key may reach. Every
/// request is re-authorized from its own HTTP request (API key, scope), and a session is bound
/// to the principal that opened it.
/// </summary>
internal static class McpGateway
{
    public const string Path = "/mcp";
    private const string ResourceScheme = "kheish-mcp";

    public static void AddMcpGateway(this IServiceCollection services)
    {
        services.AddHttpContextAccessor();
        services.AddMcpServer(o =>
            {
                o.ServerInfo = new Implementation { Name = "kheish-daemon", Version = Cli.KheishCli.Version };
                o.ServerInstructions = "Tools of the MCP servers this API key may reach, named <server>__<tool>. Credentials are injected by the daemon.";
            })
            .WithHttpTransport(o => o.SessionMode = HttpServerSessionMode.StatefulForInitializeClients)
            .WithMessageFilters(filters => filters.AddOutgoingFilter(next => async (context, ct) =>
            {
                // A POST's max_concurrent slot is given back just before its answer goes out: a
                // client sends its next call once it has the answer, without waiting for the end
                // of the HTTP response, so a slot released only then made a sequential client meet
                // its own previous call (429 concurrency_limited_key). Notifications keep the slot.
                if (context.JsonRpcMessage is JsonRpcResponse or JsonRpcError)
                {
                    try
                    {
                        context.Services?.GetService<IHttpContextAccessor>()?.HttpContext?.Features.Get<Core.Limits.KeyAdmission>()?.Dispose();
                    }
                    catch (ObjectDisposedException)
                    {
                        // The POST already ended (its client went away): the middleware gave the slot back.
                    }
                }

                await next(context, ct);
            }))
            .WithListToolsHandler(async (request, ct) =>
            {
                McpCaller caller = Caller(request.Services, request.Params);
                McpHub hub = Hub(request.Services);
                return new ListToolsResult { Tools = [.. await hub.ListToolsAsync(caller, ct)], CacheScope = CacheScope.Private };
            })
            .WithCallToolHandler(async (request, ct) =>
            {
                McpCaller caller = Caller(request.Services, request.Params);
                CallToolRequestParams p = request.Params ?? throw new McpProtocolException("tools/call needs params", McpErrorCode.InvalidParams);
                // A call held for approval keeps its request open; a client that sent a progress
                // token gets progress notifications meanwhile (keep-alive, and the approval id).
                Func<string, CancellationToken, Task>? keepAlive = null;
                if (p.ProgressToken is { } token && request.Server is { } server)
                {
                    int step = 0;
                    keepAlive = (message, t) => server.NotifyProgressAsync(token, new ProgressNotificationValue { Progress = ++step, Message = message }, cancellationToken: t);
                }

                Result<CallToolResult> result = await Hub(request.Services).CallToolAsync(caller, p.Name, p.Arguments, ct, keepAlive);
                return result.TryGetValue(out CallToolResult? value, out KheishError? error) ? value : throw McpHub.ToProtocolError(error);
            })
            .WithListPromptsHandler(async (request, ct) =>
            {
                List<Prompt> prompts = await GatherAsync(
                    request.Services,
                    request.Params,
                    (c, t) => c.ListPromptsAsync(new ListPromptsRequestParams(), t),
                    (server, list) => list.Prompts.Select(p => new Prompt
                    {
                        Name = server + McpHub.Separator + p.Name,
                        Title = p.Title,
                        Description = p.Description,
                        Arguments = p.Arguments,
                    }),
                    ct);
                return new ListPromptsResult { Prompts = prompts, CacheScope = CacheScope.Private };
            })
            .WithGetPromptHandler(async (request, ct) =>
            {
                McpCaller caller = Caller(request.Services, request.Params);
                McpHub hub = Hub(request.Services);
                GetPromptRequestParams p = request.Params ?? throw new McpProtocolException("prompts/get needs params", McpErrorCode.InvalidParams);
                if (!hub.Route(caller, p.Name, "prompt").TryGetValue(out var routed, out KheishError? error))
                {
                    throw McpHub.ToProtocolError(error);
                }

                Result<GetPromptResult> result = await routed.Server.RequestAsync(
                    (c, t) => c.GetPromptAsync(new GetPromptRequestParams { Name = routed.Name, Arguments = p.Arguments }, t), ct);
                return result.TryGetValue(out GetPromptResult? value, out error)
                    ? hub.Redact(routed.Server, value, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<GetPromptResult>)McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(GetPromptResult)), out _)
                    : throw McpHub.ToProtocolError(error);
            })
            .WithListResourcesHandler(async (request, ct) =>
            {
                List<Resource> resources = await GatherAsync(
                    request.Services,
                    request.Params,
                    (c, t) => c.ListResourcesAsync(new ListResourcesRequestParams(), t),
                    (server, list) => list.Resources.Select(r => new Resource
                    {
                        Uri = WrapUri(server, r.Uri),
                        Name = server + McpHub.Separator + r.Name,
                        Title = r.Title,
                        Description = r.Description,
                        MimeType = r.MimeType,
                        Size = r.Size,
                    }),
                    ct);
                return new ListResourcesResult { Resources = resources, CacheScope = CacheScope.Private };
            })
            .WithListResourceTemplatesHandler(async (request, ct) =>
            {
                List<ResourceTemplate> templates = await GatherAsync(
                    request.Services,
                    request.Params,
                    (c, t) => c.ServerCapabilities.Resources is null
                        ? ValueTask.FromResult(new ListResourceTemplatesResult { ResourceTemplates = [] })
                        : c.ListResourceTemplatesAsync(new ListResourceTemplatesRequestParams(), t),
                    (server, list) => list.ResourceTemplates.Select(r => new ResourceTemplate
                    {
                        UriTemplate = WrapTemplate(server, r.UriTemplate),
                        Name = server + McpHub.Separator + r.Name,
                        Title = r.Title,
                        Description = r.Description,
                        MimeType = r.MimeType,
                    }),
                    ct);
                return new ListResourceTemplatesResult { ResourceTemplates = templates, CacheScope = CacheScope.Private };
            })
            .WithCompleteHandler(async (request, ct) =>
            {
                // Forwarded to the upstream that owns the prompt or resource; anything else (an
                // unknown or out-of-scope name, an upstream without completions) completes to nothing.
                McpCaller caller = Caller(request.Services, request.Params);
                McpHub hub = Hub(request.Services);
                CompleteRequestParams p = request.Params ?? throw new McpProtocolException("completion/complete needs params", McpErrorCode.InvalidParams);
                var none = new CompleteResult { Completion = new Completion { Values = [] } };
                Core.Mcp.McpUpstream? server = null;
                Reference? upstreamRef = null;
                if (p.Ref is PromptReference prompt && hub.Route(caller, prompt.Name, "prompt").TryGetValue(out var routedPrompt, out _))
                {
                    server = routedPrompt.Server;
                    upstreamRef = new PromptReference { Name = routedPrompt.Name };
                }
                else if (p.Ref is ResourceTemplateReference template && UnwrapUri(template.Uri, out string owner, out string original)
                    && hub.Route(caller, owner + McpHub.Separator + "resource", "resource").TryGetValue(out var routedResource, out _))
                {
                    server = routedResource.Server;
                    upstreamRef = new ResourceTemplateReference { Uri = original };
                }

                if (server is null || upstreamRef is null)
                {
                    return none;
                }

                Result<CompleteResult> result = await server.RequestAsync(
                    (c, t) => c.ServerCapabilities.Completions is null
                        ? ValueTask.FromResult(none)
                        : c.CompleteAsync(new CompleteRequestParams { Ref = upstreamRef, Argument = p.Argument, Context = p.Context }, t),
                    ct);
                return result.TryGetValue(out CompleteResult? value, out KheishError? error)
                    ? hub.Redact(server, value, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<CompleteResult>)McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(CompleteResult)), out _)
                    : throw McpHub.ToProtocolError(error);
            })
            .WithReadResourceHandler(async (request, ct) =>
            {
                McpCaller caller = Caller(request.Services, request.Params);
                McpHub hub = Hub(request.Services);
                ReadResourceRequestParams p = request.Params ?? throw new McpProtocolException("resources/read needs params", McpErrorCode.InvalidParams);
                if (!UnwrapUri(p.Uri, out string server, out string original)
                    || !hub.Route(caller, server + McpHub.Separator + "resource", "resource").TryGetValue(out var routed, out KheishError? error))
                {
                    throw new McpProtocolException($"no resource `{Core.Mcp.McpServerValidator.Printable(p.Uri)}` is available to this caller (read URIs from resources/list)", McpErrorCode.InvalidParams);
                }

                Result<ReadResourceResult> result = await routed.Server.RequestAsync(
                    (c, t) => c.ReadResourceAsync(new ReadResourceRequestParams { Uri = original }, t), ct);
                if (!result.TryGetValue(out ReadResourceResult? value, out error))
                {
                    throw McpHub.ToProtocolError(error);
                }

                ReadResourceResult safe = hub.Redact(routed.Server, value, (System.Text.Json.Serialization.Metadata.JsonTypeInfo<ReadResourceResult>)McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(ReadResourceResult)), out _);
                foreach (ResourceContents c in safe.Contents)
                {
                    c.Uri = WrapUri(server, c.Uri);
                }

                safe.CacheScope = CacheScope.Private;
                return safe;
            });
    }

    public static void MapMcpGateway(this WebApplication app)
    {
        // Binds a stateful session to the principal that opened it: the SDK refuses a session id
        // presented with another key's identity.
        app.UseWhen(c => c.Request.Path.StartsWithSegments(Path), b => b.Use(async (context, next) =>
        {
            if (context.Features.Get<AgentAccessAllowed>() is { KeyId: not null } caller)
            {
                context.User = new ClaimsPrincipal(new ClaimsIdentity(
                    [new Claim(ClaimTypes.NameIdentifier, caller.Principal + "#" + caller.KeyId)], "kheish-api-key"));
            }

            await next(context);
        }));
        app.MapMcp(Path);
    }

    private sealed record McpUpstreamView(Core.Mcp.McpUpstream Upstream);

    /// <summary>
    /// One list request to every upstream the caller may reach, each answer mapped to the gateway's
    /// names by <paramref name="map"/> (given the server name); an upstream that fails is left out.
    /// </summary>
    private static async Task<List<TItem>> GatherAsync<TPage, TItem>(
        IServiceProvider? services,
        RequestParams? requestParams,
        Func<ModelContextProtocol.Client.McpClient, CancellationToken, ValueTask<TPage>> list,
        Func<string, TPage, IEnumerable<TItem>> map,
        CancellationToken ct)
    {
        McpCaller caller = Caller(services, requestParams);
        var items = new List<TItem>();
        foreach (McpUpstreamView up in Upstreams(Hub(services), caller))
        {
            Result<TPage> page = await up.Upstream.RequestAsync(list, ct);
            if (page.TryGetValue(out TPage? value, out _))
            {
                items.AddRange(map(up.Upstream.Name, value));
            }
        }

        return items;
    }

    private static IEnumerable<McpUpstreamView> Upstreams(McpHub hub, McpCaller caller) =>
        hub.Visible(caller.Scope).Select(u => new McpUpstreamView(u));

    private static McpHub Hub(IServiceProvider? services) =>
        services?.GetService<McpHub>() ?? throw new McpProtocolException("the MCP gateway is not configured", McpErrorCode.InternalError);

    /// <summary>The caller of this JSON-RPC request, from the HTTP request carrying it (never from the session).</summary>
    private static McpCaller Caller(IServiceProvider? services, RequestParams? p)
    {
        HttpContext context = services?.GetService<IHttpContextAccessor>()?.HttpContext
            ?? throw new McpProtocolException("no HTTP request context", McpErrorCode.InternalError);
        Result<McpCaller> caller = ResolveCaller(context, p?.Meta);
        return caller.TryGetValue(out McpCaller? value, out KheishError? error) ? value : throw McpHub.ToProtocolError(error);
    }

    public static Result<McpCaller> ResolveCaller(HttpContext context, JsonObject? meta)
    {
        if (context.Features.Get<AgentAccessAllowed>() is not { } allowed)
        {
            return KheishError.Unauthorized("missing_api_key", "the MCP gateway needs an agent-plane API key (X-API-Key)");
        }

        if (!ContextIds.Read(context.Request.Headers).TryGetValue(out ContextIds? ids, out KheishError? error))
        {
            return error;
        }

        ids = new ContextIds(
            ids.RunId ?? Meta(meta, "run_id"),
            ids.SessionId ?? Meta(meta, "session_id"),
            ids.AgentId ?? Meta(meta, "agent_id"),
            ids.ToolCallId ?? Meta(meta, "tool_call_id"));
        DaemonContext daemon = context.RequestServices.GetRequiredService<DaemonContext>();
        SessionRecord? session = ids.SessionId is { } sid && SessionRegistry.IsValidSessionId(sid) ? daemon.Sessions.Get(sid) : null;
        if (!EgressSubject.Resolve(allowed.Principal, allowed.Scope, session).TryGetValue(out EgressSubject? subject, out error))
        {
            return error;
        }

        return new McpCaller(subject.Subject, subject.Scope, subject.Parent, ids)
        {
            ApiKeyId = allowed.KeyId,
            RequestsPerDay = allowed.Limits?.Budget?.RequestsPerDay,
            KeyPolicy = Core.Policy.ToolPolicy.From(allowed.Scope?.McpToolPolicy, allowHooks: false),
            Capability = Core.Policy.CapabilityScope.Intersect(allowed.Scope?.CapabilityScope, session?.CapabilityScope),
        };
    }

    /// <summary>An id from the request's <c>_meta</c> (<c>kheish/run_id</c>, ...), when it is a valid context id.</summary>
    private static string? Meta(JsonObject? meta, string name) =>
        meta?["kheish/" + name] is JsonValue v && v.TryGetValue(out string? s) && EgressRequestTarget.IsValidContextId(s) ? s : null;

    private static string WrapUri(string server, string uri) => $"{ResourceScheme}://{server}/{Uri.EscapeDataString(uri)}";

    /// <summary>
    /// A template in the gateway's URI space: the literal parts escaped as <see cref="WrapUri"/>
    /// escapes a URI, the <c>{...}</c> expressions kept, so the URI a client expands from it is
    /// one <c>resources/read</c> unwraps to what the upstream's own template expands to.
    /// </summary>
    private static string WrapTemplate(string server, string template)
    {
        var wrapped = new System.Text.StringBuilder($"{ResourceScheme}://{server}/");
        int at = 0;
        while (at < template.Length)
        {
            int open = template.IndexOf('{', at);
            int close = open < 0 ? -1 : template.IndexOf('}', open);
            if (open < 0 || close < 0)
            {
                wrapped.Append(Uri.EscapeDataString(template[at..]));
                break;
            }

            wrapped.Append(Uri.EscapeDataString(template[at..open])).Append(template, open, close - open + 1);
            at = close + 1;
        }

        return wrapped.ToString();
    }

    private static bool UnwrapUri(string? uri, out string server, out string original)
    {
        server = original = "";
        string prefix = ResourceScheme + "://";
        if (uri is null || !uri.StartsWith(prefix, StringComparison.Ordinal))
        {
            return false;
        }

        string rest = uri[prefix.Length..];
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0)
        {
            return false;
        }

        server = rest[..slash];
        original = Uri.UnescapeDataString(rest[(slash + 1)..]);
        return original.Length > 0;
    }
}
