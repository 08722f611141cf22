using Kheish.Core.Broker;
using Kheish.Daemon.Http.AgentPlane;

namespace Kheish.Daemon.Http.Mcp;

/// <summary>Who is calling through the gateway, within which scope, tagged with which run/session/agent/tool-call ids.</summary>
internal sealed record McpCaller(SubjectId Subject, CredentialScope Scope, SubjectId? Parent, ContextIds Ids)
{
    /// <summary>An operator over the control plane (admin): the daemon subject, unrestricted.</summary>
    public static McpCaller Operator(ContextIds ids) => new(SubjectId.DaemonSubject, CredentialScope.Unrestricted, null, ids);
}
