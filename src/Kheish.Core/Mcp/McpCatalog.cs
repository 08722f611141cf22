namespace Kheish.Core.Mcp;

/// <summary>
/// One well-known MCP server: how it is launched and which environment variables carry its
/// credentials. Each credential lives in the generic slot <c>mcp.&lt;id&gt;.&lt;ENV&gt;</c>.
/// </summary>
internal sealed record McpCatalogEntry(
    string Id,
    string Description,
    string Command,
    IReadOnlyList<string> Args,
    IReadOnlyList<string> CredentialEnv)
{
    public const string SlotPrefix = "mcp.";

    /// <summary>The slot that holds <paramref name="env"/> for this entry, e.g. <c>mcp.linear.LINEAR_API_KEY</c>.</summary>
    public string SlotFor(string env) => SlotPrefix + Id + "." + env;

    /// <summary>A server definition that launches the entry with every credential injected from its slot.</summary>
    public McpServerDefinition ToDefinition(string? name = null) => new()
    {
        Name = name ?? Id,
        Command = Command,
        Args = Args,
        EnvSecretRefs = CredentialEnv.ToDictionary(e => e, SlotFor, StringComparer.Ordinal),
    };
}

/// <summary>The catalog compiled into the binary (<c>mcp auth catalog</c>).</summary>
internal static class McpCatalog
{
    public static IReadOnlyList<McpCatalogEntry> Entries { get; } =
    [
        // The GitHub server in its explicit Docker form: `-e NAME` (no value) makes docker copy
        // the variable from its own environment, which is the child's cleared one plus the token.
        new("github", "GitHub's official MCP server (repositories, issues, pull requests), run in Docker",
            "docker", ["run", "-i", "--rm", "-e", "GITHUB_PERSONAL_ACCESS_TOKEN", "ghcr.io/github/github-mcp-server"],
            ["GITHUB_PERSONAL_ACCESS_TOKEN"]),
        new("linear", "Linear issues and projects", "npx", ["-y", "@tacticlaunch/mcp-linear"], ["LINEAR_API_KEY"]),
        new("slack", "Slack channels and messages", "npx", ["-y", "@modelcontextprotocol/server-slack"], ["SLACK_BOT_TOKEN", "SLACK_TEAM_ID"]),
        new("notion", "Notion pages and databases", "npx", ["-y", "@notionhq/notion-mcp-server"], ["NOTION_TOKEN"]),
        new("sentry", "Sentry issues and events", "npx", ["-y", "@sentry/mcp-server"], ["SENTRY_ACCESS_TOKEN"]),
        new("brave-search", "Brave web search", "npx", ["-y", "@modelcontextprotocol/server-brave-search"], ["BRAVE_API_KEY"]),
        new("postgres", "Read-only PostgreSQL queries (connection URL with its password)", "npx", ["-y", "@modelcontextprotocol/server-postgres"], ["POSTGRES_URL"]),
        new("filesystem", "Files under allowed directories (no credentials; add the directories to args)", "npx", ["-y", "@modelcontextprotocol/server-filesystem"], []),
        new("everything", "The MCP reference test server (tools, prompts, resources)", "npx", ["-y", "@modelcontextprotocol/server-everything"], []),
    ];

    public static McpCatalogEntry? Find(string id) =>
        Entries.FirstOrDefault(e => string.Equals(e.Id, id, StringComparison.Ordinal));
}
