using Kheish.Core.Errors;

namespace Kheish.Core.Mcp;

/// <summary>
/// One thing wrong with an MCP server definition. The message names the server and field (or
/// the TOML line and column) and never a value that could be a secret.
/// </summary>
internal sealed record McpProblem(string Code, string Message, string? Server = null);

/// <summary>The outcome of checking an MCP config: the servers when there is no problem, else every problem.</summary>
internal sealed record McpCheckResult(string Source, IReadOnlyList<McpServerDefinition>? Servers, IReadOnlyList<McpProblem> Problems)
{
    public bool IsOk => Problems.Count == 0 && Servers is not null;

    /// <summary>One error naming the source and listing every problem (like <c>routes check</c>).</summary>
    public KheishError ToError()
    {
        string code = Problems.Count == 1 ? Problems[0].Code : "mcp_config_invalid";
        string list = string.Join("; ", Problems.Select(p => p.Message));
        return KheishError.BadRequest(code, $"{Source}: {Problems.Count} problem(s): {list}");
    }
}
