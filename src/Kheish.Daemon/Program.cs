using Kheish.Daemon.Cli;

// A supervised MCP child's first step, before any CLI machinery: see McpChildShim.
if (args.Length > 0 && args[0] == Kheish.Core.Mcp.McpChildShim.Verb)
{
    return Kheish.Core.Mcp.McpChildShim.Run(args);
}

return await KheishCli.RunAsync(args).ConfigureAwait(false);
