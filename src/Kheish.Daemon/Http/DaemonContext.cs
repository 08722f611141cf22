using Kheish.Core.Storage;

namespace Kheish.Daemon.Http;

/// <summary>The daemon's long-lived components, shared by every endpoint.</summary>
internal sealed class DaemonContext(StateRoot stateRoot, TimeProvider clock)
{
    public StateRoot StateRoot { get; } = stateRoot;

    public DateTimeOffset StartedAt { get; } = clock.GetUtcNow();

    public TimeProvider Clock { get; } = clock;

    /// <summary>Named checks, each "ok" or a short reason without sensitive data.</summary>
    public Dictionary<string, string> ReadinessChecks()
    {
        var checks = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["state_root"] = Directory.Exists(StateRoot.FullPath) ? "ok" : "state root directory is missing",
        };
        return checks;
    }
}
