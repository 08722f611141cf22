using Kheish.Core.Connectors;
using Kheish.Daemon.Cli;

// The daemon starts connector sidecars through itself: arm the parent-death signal, then exec.
if (args is [SidecarSupervisor.TrampolineVerb, string parent, string command, .. string[] rest]
    && int.TryParse(parent, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int parentPid))
{
    return ChildProcessNative.ExecChild(parentPid, command, rest);
}

// A supervised MCP child's first step, before any CLI machinery: see McpChildShim.
if (args.Length > 0 && args[0] == Kheish.Core.Mcp.McpChildShim.Verb)
{
    return Kheish.Core.Mcp.McpChildShim.Run(args);
}

return await KheishCli.RunAsync(args).ConfigureAwait(false);
