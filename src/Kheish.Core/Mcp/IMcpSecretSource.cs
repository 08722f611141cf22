using Kheish.Core.Errors;

namespace Kheish.Core.Mcp;

/// <summary>A secret the daemon injected into one server: where it went, from which slot.</summary>
internal sealed record InjectedSecret(string Target, string SlotId, string Value)
{
    public override string ToString() => $"InjectedSecret {{ Target = {Target}, SlotId = {SlotId}, Value = <redacted> }}";
}

/// <summary>
/// How an upstream gets the secrets its definition references: through an MCP lease for the
/// server (revoked slots and subjects refuse), resolved from the slot store at that moment.
/// </summary>
internal interface IMcpSecretSource
{
    /// <summary>Resolves <paramref name="refs"/> (target → slot) for <paramref name="server"/>; fails naming the slot.</summary>
    Result<IReadOnlyList<InjectedSecret>> Resolve(string server, IReadOnlyDictionary<string, string> refs);

    /// <summary>
    /// The bearer of an OAuth-backed server (<c>oauth_slot_ref</c>) for one request: through an MCP
    /// lease bound to the server, the slot and the hash of its scopes; the account's resource and
    /// scopes must match the definition; refreshed first when it is about to expire.
    /// </summary>
    Task<Result<InjectedSecret>> ResolveOauthAsync(McpServerDefinition server, CancellationToken ct);
}
