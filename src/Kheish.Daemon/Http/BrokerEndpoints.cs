using Kheish.Core.Broker;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Http;

internal sealed record SessionCreateRequest(string? SessionId = null, CredentialScope? Scope = null, string? ParentSessionId = null, Core.Policy.CapabilityScope? CapabilityScope = null);

/// <summary>
/// Broker inspection and revocation (admin only, even for GET) and session creation.
/// A revocation is durable (fsynced) before it is acknowledged.
/// </summary>
internal static class BrokerEndpoints
{
    public static void MapBrokerEndpoints(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder auth = app.MapGroup("/v1/runtime/auth");

        auth.MapGet("/subjects/{subjectId}", IResult (string subjectId, DaemonContext daemon) =>
            SubjectId.Parse(subjectId).TryGetValue(out SubjectId id, out KheishError? error)
                ? TypedResults.Json(daemon.Broker.GetSubjectStatus(id), BrokerJsonContext.Default.SubjectStatus)
                : ProblemResults.Result(error));

        auth.MapPost("/subjects/{subjectId}/revoke", IResult (string subjectId, DaemonContext daemon) =>
            SubjectId.Parse(subjectId).TryGetValue(out SubjectId id, out KheishError? error)
                ? SessionCascade.Revoke(daemon.Broker, daemon.Sessions, id).ToHttp(BrokerJsonContext.Default.SubjectRevocation)
                : ProblemResults.Result(error));

        auth.MapGet("/leases/{leaseId}", IResult (string leaseId, DaemonContext daemon) =>
            LeaseId.Parse(leaseId).TryGetValue(out LeaseId id, out KheishError? error)
                ? daemon.Broker.GetLeaseStatus(id).ToHttp(BrokerJsonContext.Default.LeaseStatus)
                : ProblemResults.Result(error));

        auth.MapPost("/leases/{leaseId}/revoke", IResult (string leaseId, DaemonContext daemon) =>
            LeaseId.Parse(leaseId).TryGetValue(out LeaseId id, out KheishError? error)
                ? daemon.Broker.RevokeLease(id).ToHttp(BrokerJsonContext.Default.LeaseStatus)
                : ProblemResults.Result(error));

        auth.MapPost("/slots/{slotId}/revoke", IResult (string slotId, HttpRequest request, DaemonContext daemon) =>
        {
            if (!Core.Secrets.SlotId.Parse(slotId).TryGetValue(out Core.Secrets.SlotId id, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            // A typo must not "succeed": revoking a slot that does not exist is only done on purpose.
            bool force = string.Equals(request.Query["force"], "true", StringComparison.OrdinalIgnoreCase);
            if (!force && daemon.Slots.Get(id) is null)
            {
                return ProblemResults.Result(BrokerErrors.NoSuchSlot(id.Value));
            }

            return daemon.Broker.RevokeSlot(id.Value).ToHttp(BrokerJsonContext.Default.SlotRevocation);
        });

        app.MapPost("/v1/sessions", async Task<IResult> (HttpRequest request, DaemonContext daemon) =>
        {
            Result<SessionCreateRequest> body = await RequestBody.ReadAsync(request, HttpJsonContext.Default.SessionCreateRequest);
            if (!body.TryGetValue(out SessionCreateRequest? create, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            return daemon.Sessions.Create(create.SessionId, create.Scope ?? new CredentialScope(), create.ParentSessionId, create.CapabilityScope)
                .ToHttp(BrokerJsonContext.Default.SessionRecord);
        }).Accepts<SessionCreateRequest>("application/json");
    }
}
