using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Kheish.Core.Errors;
using Kheish.Core.Mcp;
using Kheish.Core.Secrets;
using Kheish.Daemon.Http.AgentPlane;
using Kheish.Daemon.Http.ControlPlane;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace Kheish.Daemon.Http.Mcp;

/// <summary>One server as <c>GET /v1/runtime</c> and <c>GET /v1/runtime/mcp/servers</c> show it (never a secret).</summary>
internal sealed record McpServerView(
    string Server,
    string Transport,
    string Origin,
    bool Connected,
    string? Error,
    int Restarts,
    bool UsesCredentials,
    IReadOnlyList<string> CredentialSecretRefs,
    IReadOnlyList<string> Tools,
    int? Pid,
    McpServerDefinition Definition)
{
    public static McpServerView Of(McpUpstream u) => new(
        u.Name,
        u.Definition.Transport == McpTransport.Stdio ? "stdio" : "http",
        u.Origin,
        u.Connected,
        u.Error,
        u.Restarts,
        u.Definition.SecretRefs().Count > 0,
        u.Definition.SecretRefs(),
        [.. u.Tools.Select(t => u.Name + McpHub.Separator + t.Name)],
        u.ProcessId,
        u.Definition);
}

internal sealed record McpRuntimeView(IReadOnlyList<McpServerView> Servers, long Redactions);

/// <summary>
/// <c>POST /v1/runtime/mcp/servers</c>: a definition, plus write-only <c>values</c> (slot id →
/// secret) stored into generic slots before the definition (which keeps only the references) is saved.
/// </summary>
internal sealed record McpServerWriteRequest
{
    public required string Name { get; init; }
    public string? Command { get; init; }
    public IReadOnlyList<string>? Args { get; init; }
    public IReadOnlyDictionary<string, string>? Env { get; init; }
    public IReadOnlyDictionary<string, string>? EnvSecretRefs { get; init; }
    public string? Cwd { get; init; }
    public bool? InheritEnv { get; init; }
    public string? Url { get; init; }
    public string? BearerTokenSecretRef { get; init; }
    public IReadOnlyDictionary<string, string>? HttpHeaderSecretRefs { get; init; }
    public IReadOnlyDictionary<string, string>? HttpHeaders { get; init; }
    public string? OauthSlotRef { get; init; }
    public string? OauthResource { get; init; }
    public IReadOnlyList<string>? OauthScopes { get; init; }
    public int? StartupTimeoutSec { get; init; }
    public int? ToolTimeoutSec { get; init; }
    public IReadOnlyDictionary<string, string>? ToolPolicy { get; init; }
    public int? ApprovalTimeoutSec { get; init; }
    public IReadOnlyDictionary<string, Kheish.Core.Policy.PolicyHook>? Hooks { get; init; }
    public IReadOnlyDictionary<string, string>? Values { get; init; }

    public McpServerDefinition ToDefinition() => new()
    {
        Name = Name,
        Command = Command,
        Args = Args,
        Env = Env,
        EnvSecretRefs = EnvSecretRefs,
        Cwd = Cwd,
        InheritEnv = InheritEnv,
        Url = Url,
        BearerTokenSecretRef = BearerTokenSecretRef,
        HttpHeaderSecretRefs = HttpHeaderSecretRefs,
        HttpHeaders = HttpHeaders,
        OauthSlotRef = OauthSlotRef,
        OauthResource = OauthResource,
        OauthScopes = OauthScopes,
        StartupTimeoutSec = StartupTimeoutSec,
        ToolTimeoutSec = ToolTimeoutSec,
        ToolPolicy = ToolPolicy,
        ApprovalTimeoutSec = ApprovalTimeoutSec,
        Hooks = Hooks,
    };

    public override string ToString() => $"McpServerWriteRequest {{ Name = {Name}, Values = <{Values?.Count ?? 0} redacted> }}";
}

internal sealed record McpServersResponse(IReadOnlyList<McpServerView> Servers);

internal sealed record McpRemovedResponse(string Server, bool Removed);

internal sealed record McpToolCallRequest(JsonElement? Arguments = null);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(McpServerWriteRequest))]
[JsonSerializable(typeof(McpServersResponse))]
[JsonSerializable(typeof(McpServerView))]
[JsonSerializable(typeof(McpRemovedResponse))]
[JsonSerializable(typeof(McpToolCallRequest))]
[JsonSerializable(typeof(McpRuntimeView))]
internal sealed partial class McpHttpJsonContext : JsonSerializerContext;

/// <summary>The control plane's MCP endpoints (admin; the list is also open to the read-only token).</summary>
internal static class McpEndpoints
{
    private static readonly JsonTypeInfo<CallToolResult> CallToolResultType =
        (JsonTypeInfo<CallToolResult>)McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(CallToolResult));

    private static readonly JsonTypeInfo<IDictionary<string, JsonElement>> ArgumentsType =
        (JsonTypeInfo<IDictionary<string, JsonElement>>)McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(IDictionary<string, JsonElement>));

    public static void MapMcpEndpoints(this IEndpointRouteBuilder app)
    {
        // Their wire types live in McpHttpJsonContext and the SDK's context, outside the
        // OpenAPI generator's resolver chain; the README documents them.
        RouteGroupBuilder group = app.MapGroup("/v1/runtime/mcp");
        group.ExcludeFromDescription();

        group.MapGet("/servers", (McpHub hub) =>
            TypedResults.Json(new McpServersResponse([.. hub.Servers.Select(McpServerView.Of)]), McpHttpJsonContext.Default.McpServersResponse))
            .AllowReadOnly();

        group.MapPost("/servers", async Task<IResult> (HttpRequest request, McpHub hub, DaemonContext daemon) =>
        {
            Result<McpServerWriteRequest> body = await RequestBody.ReadAsync(request, McpHttpJsonContext.Default.McpServerWriteRequest);
            if (!body.TryGetValue(out McpServerWriteRequest? write, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            McpServerDefinition def = write.ToDefinition();
            if (StoreValues(write, def, daemon) is { } stored)
            {
                return ProblemResults.Result(stored);
            }

            Result<McpUpstream> put = await hub.PutManagedAsync(def);
            return put.TryGetValue(out McpUpstream? upstream, out error)
                ? TypedResults.Json(McpServerView.Of(upstream), McpHttpJsonContext.Default.McpServerView)
                : ProblemResults.Result(error);
        }).Accepts<McpServerWriteRequest>("application/json");

        group.MapDelete("/servers/{name}", async Task<IResult> (string name, McpHub hub) =>
        {
            Result<bool> removed = await hub.RemoveManagedAsync(name);
            return removed.TryGetValue(out bool ok, out KheishError? error)
                ? TypedResults.Json(new McpRemovedResponse(name, ok), McpHttpJsonContext.Default.McpRemovedResponse)
                : ProblemResults.Result(error);
        });

        group.MapPost("/tools/{tool}/call", async Task<IResult> (string tool, HttpRequest request, McpHub hub, CancellationToken ct) =>
        {
            IDictionary<string, JsonElement>? arguments = null;
            if (request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0)
            {
                Result<McpToolCallRequest> body = await RequestBody.ReadAsync(request, McpHttpJsonContext.Default.McpToolCallRequest);
                if (!body.TryGetValue(out McpToolCallRequest? call, out KheishError? bodyError))
                {
                    return ProblemResults.Result(bodyError);
                }

                if (call.Arguments is { } args)
                {
                    if (args.ValueKind != JsonValueKind.Object)
                    {
                        return ProblemResults.Result(KheishError.BadRequest("invalid_body", "`arguments` must be a JSON object"));
                    }

                    arguments = args.Deserialize(ArgumentsType);
                }
            }

            if (!ContextIds.Read(request.Headers).TryGetValue(out ContextIds? ids, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            Result<CallToolResult> result = await hub.CallToolAsync(McpCaller.Operator(ids), tool, arguments, ct);
            return result.TryGetValue(out CallToolResult? value, out error)
                ? TypedResults.Json(value, CallToolResultType)
                : ProblemResults.Result(error);
        });
    }

    /// <summary>Stores each write-only value into its (referenced) slot as a generic secret; nothing is saved on any error.</summary>
    private static KheishError? StoreValues(McpServerWriteRequest write, McpServerDefinition def, DaemonContext daemon)
    {
        if (write.Values is not { Count: > 0 } values)
        {
            return null;
        }

        IReadOnlyList<string> refs = def.SecretRefs();
        var records = new List<SlotRecord>();
        foreach (var (slot, value) in values)
        {
            if (!refs.Contains(slot, StringComparer.Ordinal))
            {
                return KheishError.BadRequest("mcp_value_unreferenced", $"`values` names slot `{McpServerValidator.Printable(slot)}`, which the definition does not reference");
            }

            if (!SlotId.Parse(slot).TryGetValue(out SlotId id, out KheishError? error))
            {
                return error;
            }

            if (string.IsNullOrEmpty(value))
            {
                return KheishError.BadRequest("empty_secret", $"the value for slot `{slot}` is empty");
            }

            records.Add(SlotRecord.WithSecret(id, SlotProvider.Generic, SlotMode.OpaqueSecret, value, daemon.Clock.GetUtcNow().ToUnixTimeMilliseconds()));
        }

        var problems = new List<McpProblem>();
        McpServerValidator.Validate(def, problems, slot => values.ContainsKey(slot) || SlotId.Parse(slot).TryGetValue(out SlotId id, out _) && daemon.Slots.Get(id) is not null);
        if (problems.Count > 0)
        {
            return new McpCheckResult("server definition", null, problems).ToError();
        }

        foreach (SlotRecord record in records)
        {
            if (!daemon.Slots.Set(record).TryGetValue(out _, out KheishError? error))
            {
                return error;
            }
        }

        return null;
    }
}
