using System.Net;
using Kheish.Core.Errors;

namespace Kheish.Core.Access;

/// <summary>The outcome of <see cref="AgentAccessPolicy.Evaluate"/> for one agent-plane request.</summary>
internal abstract record AgentAccessDecision
{
    /// <summary>The client address the decision used (after trusted-proxy handling), null when none could be determined.</summary>
    public abstract IPAddress? ClientAddress { get; }
}

/// <summary>
/// The request may proceed as <paramref name="Principal"/>. <paramref name="KeyId"/> is null for
/// anonymous access (relaxed without a key, lax). <paramref name="Scope"/> bounds every lease the
/// request gets; null means the key adds no bound.
/// </summary>
internal sealed record AgentAccessAllowed(
    string Principal,
    string? KeyId,
    SecurityMode Mode,
    ApiKeyScope? Scope,
    IPAddress ClientAddress) : AgentAccessDecision
{
    public const string AnonymousPrincipal = "anonymous";

    public override IPAddress ClientAddress { get; } = ClientAddress;

    /// <summary>The key's rate_limit, max_concurrent and budget; null when anonymous or unlimited.</summary>
    public ApiKeyLimits? Limits { get; init; }
}

/// <summary>
/// The request is refused. <see cref="Error"/> carries the stable code
/// (<c>missing_api_key</c>, <c>invalid_api_key</c>, <c>ip_not_allowed</c>, <c>config_invalid</c>)
/// and the detail for the problem body; <see cref="Status"/> is 401, 403 or 503;
/// <see cref="WwwAuthenticate"/> is set on 401.
/// </summary>
internal sealed record AgentAccessDenied(int Status, KheishError Error, string? WwwAuthenticate, IPAddress? ClientAddress) : AgentAccessDecision
{
    public override IPAddress? ClientAddress { get; } = ClientAddress;
}
