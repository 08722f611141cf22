using System.Text.Json.Serialization;

namespace Kheish.Core.Mcp;

internal enum McpTransport
{
    Stdio,
    Http,
}

/// <summary>
/// One upstream MCP server, in the Codex-compatible <c>[mcp_servers.&lt;name&gt;]</c> shape.
/// A stdio server has <see cref="Command"/>; an HTTP server has <see cref="Url"/>. Secrets
/// appear only as slot references (<c>*_secret_ref(s)</c>); plain <see cref="Env"/> and
/// <see cref="HttpHeaders"/> values are configuration, not credentials.
/// </summary>
internal sealed record McpServerDefinition
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

    /// <summary>An MCP OAuth account slot (<c>mcp.oauth.&lt;id&gt;</c>) whose access token is the bearer of every request.</summary>
    public string? OauthSlotRef { get; init; }

    /// <summary>The RFC 8707 resource the account must be bound to; default: <see cref="Url"/>.</summary>
    public string? OauthResource { get; init; }

    /// <summary>The scopes this server's calls use; the account must hold every one (empty: whatever the login asked).</summary>
    public IReadOnlyList<string>? OauthScopes { get; init; }

    [JsonIgnore]
    public string? EffectiveOauthResource => OauthSlotRef is null ? null : OauthResource ?? Url;

    public int? StartupTimeoutSec { get; init; }
    public int? ToolTimeoutSec { get; init; }

    /// <summary>Upstream tool name or <c>*</c> glob → <c>allow</c>, <c>deny</c> or <c>approve</c> (see <see cref="Kheish.Core.Policy.ToolPolicy"/>).</summary>
    public IReadOnlyDictionary<string, string>? ToolPolicy { get; init; }

    /// <summary>Policy hooks a <c>hook:&lt;name&gt;</c> tool_policy value names (see <see cref="Kheish.Core.Policy.PolicyHook"/>).</summary>
    public IReadOnlyDictionary<string, Kheish.Core.Policy.PolicyHook>? Hooks { get; init; }

    /// <summary>How long an <c>approve</c> call waits for an operator's decision (default 300 s).</summary>
    public int? ApprovalTimeoutSec { get; init; }

    [JsonIgnore]
    public McpTransport Transport => Url is null ? McpTransport.Stdio : McpTransport.Http;

    [JsonIgnore]
    public TimeSpan StartupTimeout => TimeSpan.FromSeconds(StartupTimeoutSec ?? 30);

    [JsonIgnore]
    public TimeSpan ToolTimeout => TimeSpan.FromSeconds(ToolTimeoutSec ?? 120);

    [JsonIgnore]
    public TimeSpan ApprovalTimeout => TimeSpan.FromSeconds(ApprovalTimeoutSec ?? Kheish.Core.Policy.ToolPolicy.DefaultApprovalTimeoutSec);

    /// <summary>The decision for one upstream tool under <see cref="ToolPolicy"/>.</summary>
    public Kheish.Core.Policy.ToolDecision DecisionFor(string tool) => Kheish.Core.Policy.ToolPolicy.From(ToolPolicy).Resolve(tool);

    /// <summary>The decision for one upstream tool, with the hook that decides it when the decision is <c>Hook</c>.</summary>
    public Kheish.Core.Policy.ToolDecision DecisionFor(string tool, out Kheish.Core.Policy.PolicyHook? hook, out string? hookName)
    {
        Kheish.Core.Policy.ToolDecision d = Kheish.Core.Policy.ToolPolicy.From(ToolPolicy).Resolve(tool, out _, out hookName);
        hook = hookName is not null ? Hooks?.GetValueOrDefault(hookName) : null;
        return d;
    }

    /// <summary>Every slot this server draws on, sorted and distinct.</summary>
    public IReadOnlyList<string> SecretRefs()
    {
        var refs = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string r in EnvSecretRefs?.Values ?? [])
        {
            refs.Add(r);
        }

        foreach (string r in HttpHeaderSecretRefs?.Values ?? [])
        {
            refs.Add(r);
        }

        if (BearerTokenSecretRef is not null)
        {
            refs.Add(BearerTokenSecretRef);
        }

        if (OauthSlotRef is not null)
        {
            refs.Add(OauthSlotRef);
        }

        return [.. refs];
    }
}
