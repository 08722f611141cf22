using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Kheish.Core.Errors;
using Kheish.Daemon.Http.ControlPlane;
using ModelContextProtocol;

namespace Kheish.Daemon.Http.Mcp;

/// <summary>One held (or recently closed) tool call as the control plane shows it. <c>args</c> only for the admin token.</summary>
internal sealed record ApprovalView(
    string Id,
    string Server,
    string Tool,
    string Status,
    string ArgsDigest,
    string PrincipalId,
    long RequestedAtMs,
    long ExpiresAtMs)
{
    public JsonElement? Args { get; init; }
    public string? RunId { get; init; }
    public string? SessionId { get; init; }
    public string? AgentId { get; init; }
    public string? ToolCallId { get; init; }
    public string? DecidedBy { get; init; }
    public long? DecidedAtMs { get; init; }
    public string? Reason { get; init; }

    public static ApprovalView Of(HeldCall c, bool withArgs)
    {
        lock (c.Gate)
        {
            return new ApprovalView(c.Entry.Id, c.Entry.Server, c.Entry.Tool, McpApprovals.StatusName(c.Status), c.Entry.ArgsDigest, c.Entry.PrincipalId, c.Entry.RequestedAtMs, c.Entry.ExpiresAtMs)
            {
                Args = withArgs ? JsonSerializer.SerializeToElement(c.Arguments ?? new Dictionary<string, JsonElement>(), ArgumentsType) : null,
                RunId = c.Entry.RunId,
                SessionId = c.Entry.SessionId,
                AgentId = c.Entry.AgentId,
                ToolCallId = c.Entry.ToolCallId,
                DecidedBy = c.DecidedBy,
                DecidedAtMs = c.DecidedAtMs,
                Reason = c.Reason,
            };
        }
    }

    private static readonly JsonTypeInfo<IDictionary<string, JsonElement>> ArgumentsType =
        (JsonTypeInfo<IDictionary<string, JsonElement>>)McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(IDictionary<string, JsonElement>));
}

internal sealed record ApprovalsResponse(IReadOnlyList<ApprovalView> Approvals);

internal sealed record ApprovalDecisionRequest(string? Reason = null);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(ApprovalsResponse))]
[JsonSerializable(typeof(ApprovalView))]
[JsonSerializable(typeof(ApprovalDecisionRequest))]
internal sealed partial class ApprovalsJsonContext : JsonSerializerContext;

/// <summary>
/// <c>GET /v1/runtime/approvals</c> (admin and read-only; arguments only for admin) and
/// <c>POST /v1/runtime/approvals/{id}/approve|deny</c> (admin, optional <c>{"reason"}</c>).
/// </summary>
internal static class ApprovalsEndpoints
{
    /// <summary>Who decides, as the ledger names them: the control-plane principal of the request.</summary>
    public const string AdminPrincipal = "control-plane:admin";
    public const string UnauthenticatedPrincipal = "control-plane:unauthenticated";

    public static void MapApprovalsEndpoints(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("/v1/runtime/approvals");
        group.ExcludeFromDescription();

        group.MapGet("", (HttpContext context, McpApprovals approvals, ControlPlaneAuthOptions auth) =>
        {
            bool admin = IsAdmin(context, auth);
            return TypedResults.Json(new ApprovalsResponse([.. approvals.List().Select(c => ApprovalView.Of(c, admin))]), ApprovalsJsonContext.Default.ApprovalsResponse);
        }).AllowReadOnly();

        group.MapPost("/{id}/approve", (string id, HttpContext context, McpApprovals approvals, ControlPlaneAuthOptions auth) =>
            DecideAsync(id, approve: true, context, approvals, auth));
        group.MapPost("/{id}/deny", (string id, HttpContext context, McpApprovals approvals, ControlPlaneAuthOptions auth) =>
            DecideAsync(id, approve: false, context, approvals, auth));
    }

    private static async Task<IResult> DecideAsync(string id, bool approve, HttpContext context, McpApprovals approvals, ControlPlaneAuthOptions auth)
    {
        string? reason = null;
        HttpRequest request = context.Request;
        if (request.ContentLength is > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            Result<ApprovalDecisionRequest> body = await RequestBody.ReadAsync(request, ApprovalsJsonContext.Default.ApprovalDecisionRequest);
            if (!body.TryGetValue(out ApprovalDecisionRequest? decision, out KheishError? bodyError))
            {
                return ProblemResults.Result(bodyError);
            }

            reason = decision.Reason;
        }

        string principal = auth.Enabled ? AdminPrincipal : UnauthenticatedPrincipal;
        Result<HeldCall> decided = await approvals.DecideAsync(id, approve, principal, reason);
        return decided.TryGetValue(out HeldCall? call, out KheishError? error)
            ? TypedResults.Json(ApprovalView.Of(call, IsAdmin(context, auth)), ApprovalsJsonContext.Default.ApprovalView)
            : ProblemResults.Result(error);
    }

    /// <summary>Arguments are shown to the admin token (or to everyone when auth is explicitly off), never to the read-only token.</summary>
    private static bool IsAdmin(HttpContext context, ControlPlaneAuthOptions auth) =>
        !auth.Enabled || ControlPlaneRequest.Of(context)?.Granted is AccessLevel.Admin;
}
