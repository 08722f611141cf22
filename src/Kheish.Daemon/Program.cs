using Kheish.Core.Connectors;
using Kheish.Daemon.Cli;

// The daemon starts connector sidecars through itself: arm the parent-death signal, then exec.
if (args is [SidecarSupervisor.TrampolineVerb, string parent, string command, .. string[] rest]
    && int.TryParse(parent, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int parentPid))
{
    return ChildProcessNative.ExecChild(parentPid, command, rest);
}

return await KheishCli.RunAsync(args).ConfigureAwait(false);
