using Kheish.Core.Access;

namespace Kheish.Daemon.Http.AgentPlane;

internal sealed record WhoAmIResponse(string Principal, string? KeyId, string Mode, ApiKeyScope? Scope, string ClientAddress);

/// <summary>Agent-plane endpoints that are not the proxy or MCP: a client can test its key.</summary>
internal static class AgentEndpoints
{
    public static void MapAgentEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/agent/v1/whoami", IResult (HttpContext context, DaemonContext daemon) =>
        {
            AgentAccessAllowed caller = context.Features.Get<AgentAccessAllowed>()!;
            if (Kheish.Core.Egress.EgressSubject.TryPrincipalSubject(caller.Principal, out Kheish.Core.Broker.SubjectId subject)
                && daemon.Broker.IsSubjectRevoked(subject))
            {
                return ProblemResults.Result(Kheish.Core.Broker.BrokerErrors.SubjectWasRevoked(subject.Value));
            }

            return new PipeJsonResult<WhoAmIResponse>(
                new WhoAmIResponse(caller.Principal, caller.KeyId, caller.Mode.Name(), caller.Scope, caller.ClientAddress.ToString()),
                HttpJsonContext.Default.WhoAmIResponse);
        });
    }
}
