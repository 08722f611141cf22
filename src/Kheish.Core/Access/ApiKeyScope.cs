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
    IReadOnlyList<string>? McpServerDeny = null)
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

                if (v.Length > 256 || v.Any(char.IsControl))
                {
                    return $"{name}[{i}] must be at most 256 printable characters";
                }
            }
        }

        return null;
    }
}
