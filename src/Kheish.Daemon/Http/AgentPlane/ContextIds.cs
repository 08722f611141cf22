using Kheish.Core.Egress;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Http.AgentPlane;

/// <summary>
/// The run, session, agent and tool-call ids an agent tags a proxied call with
/// (<c>X-Kheish-Run-Id</c>, <c>X-Kheish-Session-Id</c>, <c>X-Kheish-Agent-Id</c>,
/// <c>X-Kheish-Tool-Call-Id</c>). Each is optional, sent at most once, 1 to 128 visible ASCII
/// characters; anything else is refused with <c>invalid_context_id</c> before any work.
/// </summary>
internal sealed record ContextIds(string? RunId, string? SessionId, string? AgentId, string? ToolCallId)
{
    public static Result<ContextIds> Read(IHeaderDictionary headers)
    {
        string? run = null, session = null, agent = null, toolCall = null;
        KheishError? error =
            One(headers, EgressProxy.RunIdHeader, ref run)
            ?? One(headers, EgressProxy.SessionIdHeader, ref session)
            ?? One(headers, EgressProxy.AgentIdHeader, ref agent)
            ?? One(headers, EgressProxy.ToolCallIdHeader, ref toolCall);
        return error is null ? new ContextIds(run, session, agent, toolCall) : error;
    }

    private static KheishError? One(IHeaderDictionary headers, string name, ref string? value)
    {
        if (!headers.TryGetValue(name, out Microsoft.Extensions.Primitives.StringValues values) || values.Count == 0)
        {
            return null;
        }

        if (values.Count > 1 || values[0] is not { } single || !EgressRequestTarget.IsValidContextId(single))
        {
            return KheishError.BadRequest(
                "invalid_context_id",
                $"{name} must be sent once, 1 to 128 visible ASCII characters without spaces");
        }

        value = single;
        return null;
    }
}
