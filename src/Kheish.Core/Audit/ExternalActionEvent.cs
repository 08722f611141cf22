namespace Kheish.Core.Audit;

/// <summary>Where an external action is in its life: recorded before it goes out, then once when it ends.</summary>
internal enum ActionPhase
{
    Started,
    Completed,
    Failed,
}

/// <summary>
/// What a producer (egress proxy, MCP gateway, connectors, the audit probe) tells the ledger
/// about one external action. The ledger adds the timestamp, the chain and the signature.
/// Digests and outcomes describe a request or response; they must never hold a secret.
/// </summary>
internal sealed record ExternalActionEvent(ActionPhase Phase, string Kind, string Target)
{
    public string? SessionId { get; init; }
    public string? AgentId { get; init; }
    public string? RunId { get; init; }
    public string? ToolCallId { get; init; }
    public string? PrincipalId { get; init; }
    public string? ParentPrincipalId { get; init; }
    public string? GrantId { get; init; }
    public string? LeaseId { get; init; }
    public string? RequestDigest { get; init; }
    public string? ResponseDigest { get; init; }
    public string? Outcome { get; init; }

    /// <summary>The agent-plane API key the action was made with (its public id), for per-key usage.</summary>
    public string? ApiKeyId { get; init; }

    /// <summary>Provider tokens the upstream reported (completed egress records); durable usage is read back from these.</summary>
    public long? InputTokens { get; init; }

    public long? OutputTokens { get; init; }

    public static string PhaseName(ActionPhase phase) => phase switch
    {
        ActionPhase.Started => "started",
        ActionPhase.Completed => "completed",
        ActionPhase.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(phase)),
    };
}
