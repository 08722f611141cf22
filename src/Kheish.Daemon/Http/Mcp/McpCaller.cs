using Kheish.Core.Broker;
using Kheish.Daemon.Http.AgentPlane;

namespace Kheish.Daemon.Http.Mcp;

/// <summary>Who is calling through the gateway, within which scope, tagged with which run/session/agent/tool-call ids.</summary>
internal sealed record McpCaller(SubjectId Subject, CredentialScope Scope, SubjectId? Parent, ContextIds Ids)
{
    /// <summary>
    /// The API key's <c>mcp_tool_policy</c> (keys <c>&lt;server&gt;__&lt;tool&gt;</c>): combined with each
    /// server's tool_policy by taking the stricter decision, so a key can only tighten it.
    /// </summary>
    public Core.Policy.ToolPolicy KeyPolicy { get; init; } = Core.Policy.ToolPolicy.AllowAll;

    /// <summary>
    /// What the caller may see and call (gateway names <c>&lt;server&gt;__&lt;tool&gt;</c>): the key's
    /// capability_scope intersected with its session's, so acting for a session never widens a key.
    /// </summary>
    public Core.Policy.CapabilityScope Capability { get; init; } = Core.Policy.CapabilityScope.Unrestricted;

    /// <summary>The API key this call came with (agents), or null (the operator): budgets count its tool calls.</summary>
    public string? ApiKeyId { get; init; }

    /// <summary>That key's budget.requests_per_day, counted with its check just before a call goes out.</summary>
    public long? RequestsPerDay { get; init; }

    /// <summary>A started record of this caller's action on <paramref name="target"/>, with its ids, principal and lease.</summary>
    public Core.Audit.ExternalActionEvent Started(string kind, string target, string? grantId, string? leaseId, string requestDigest) =>
        new(Core.Audit.ActionPhase.Started, kind, target)
        {
            RunId = Ids.RunId,
            SessionId = Ids.SessionId,
            AgentId = Ids.AgentId,
            ToolCallId = Ids.ToolCallId,
            PrincipalId = Subject.Value,
            ParentPrincipalId = Parent?.Value,
            GrantId = grantId,
            LeaseId = leaseId,
            RequestDigest = requestDigest,
        };

    /// <summary>An operator over the control plane (admin): the daemon subject, unrestricted.</summary>
    public static McpCaller Operator(ContextIds ids) => new(SubjectId.DaemonSubject, CredentialScope.Unrestricted, null, ids);
}
