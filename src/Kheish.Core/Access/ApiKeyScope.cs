using Kheish.Core.Text;

namespace Kheish.Core.Access;

/// <summary>
/// The credential scope an API key's requests are bounded by. Kept as plain lists: the broker
/// owns what they mean (a scope can only narrow). This type only guarantees the shape: known
/// fields, lists of non-empty strings. A null list means "no bound from this key".
/// </summary>
internal sealed record ApiKeyScope(
    IReadOnlyList<string>? RouteAllow = null,
    IReadOnlyList<string>? RouteDeny = null,
    IReadOnlyList<string>? ConnectorAllow = null,
    IReadOnlyList<string>? ConnectorDeny = null,
    IReadOnlyList<string>? ConnectorCredentialAllow = null,
    IReadOnlyList<string>? ConnectorCredentialDeny = null,
    IReadOnlyList<string>? McpServerAllow = null,
    IReadOnlyList<string>? McpServerDeny = null,
    IReadOnlyDictionary<string, string>? McpToolPolicy = null,
    Policy.CapabilityScope? CapabilityScope = null)
{
    /// <summary>Each list with its JSON name, for validation messages and display.</summary>
    public IEnumerable<(string Name, IReadOnlyList<string>? Values)> Lists()
    {
        yield return ("route_allow", RouteAllow);
        yield return ("route_deny", RouteDeny);
        yield return ("connector_allow", ConnectorAllow);
        yield return ("connector_deny", ConnectorDeny);
        yield return ("connector_credential_allow", ConnectorCredentialAllow);
        yield return ("connector_credential_deny", ConnectorCredentialDeny);
        yield return ("mcp_server_allow", McpServerAllow);
        yield return ("mcp_server_deny", McpServerDeny);
    }

    /// <summary>Null when every list is well formed, else what is wrong (no values quoted beyond names).</summary>
    public string? Validate()
    {
        foreach (var (name, values) in Lists())
        {
            if (values is null)
            {
                continue;
            }

            for (int i = 0; i < values.Count; i++)
            {
                string? v = values[i];
                if (string.IsNullOrWhiteSpace(v))
                {
                    return $"{name}[{i}] must be a non-empty string";
                }

                if (v.Length > 256 || ControlCharacters.In(v))
                {
                    return $"{name}[{i}] must be at most 256 printable characters";
                }
            }
        }

        if (CapabilityScope?.Validate() is { } capability)
        {
            return capability;
        }

        // Keys are <server>__<tool> names or globs; the key's decision only ever tightens the server's.
        if (McpToolPolicy is { } policy)
        {
            if (policy.Count > Policy.ToolPolicy.MaxRules)
            {
                return $"mcp_tool_policy has {policy.Count} entries; at most {Policy.ToolPolicy.MaxRules} are allowed";
            }

            foreach (var (key, value) in policy.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                if (!Policy.ToolPolicy.IsValidKey(key))
                {
                    return $"mcp_tool_policy keys must be <server>__<tool> names or globs of 1-{Policy.ToolPolicy.MaxKeyLength} printable ASCII characters";
                }

                if (!Policy.ToolPolicy.TryParse(value, out _))
                {
                    return $"mcp_tool_policy.\"{key}\" = \"{Mcp.McpServerValidator.Printable(value)}\" is not a policy: use \"allow\", \"deny\" or \"approve\" (a key's policy only tightens its servers' tool_policy)";
                }
            }
        }

        return null;
    }
}
