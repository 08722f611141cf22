using Kheish.Core.Routes;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;

namespace Kheish.Daemon.Http;

/// <summary>The daemon's long-lived components, shared by every endpoint.</summary>
internal sealed class DaemonContext(
    StateRoot stateRoot,
    TimeProvider clock,
    SlotStore slots,
    RoutesConfig? routes = null,
    bool masterKeyConfigured = false,
    string? storeUnavailable = null)
{
    public SlotStore Slots { get; } = slots;

    public RoutesConfig? Routes { get; } = routes;

    public bool MasterKeyConfigured { get; } = masterKeyConfigured;

    /// <summary>Set when the store is encrypted but no master key is configured.</summary>
    public string? StoreUnavailable { get; } = storeUnavailable;

    /// <summary>Route ids whose auth_ref is this slot (a referenced slot cannot be deleted).</summary>
    public IReadOnlyList<string> RoutesReferencing(string slotId) =>
        Routes is null
            ? []
            : [.. Routes.Routes.Where(r => r.Credential is RouteCredential.AuthRef a && a.SlotId == slotId).Select(r => r.Id.ToString())];

    public StateRoot StateRoot { get; } = stateRoot;

    public DateTimeOffset StartedAt { get; } = clock.GetUtcNow();

    public TimeProvider Clock { get; } = clock;

    /// <summary>Named checks, each "ok" or a short reason without sensitive data.</summary>
    public Dictionary<string, string> ReadinessChecks()
    {
        var checks = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["state_root"] = Directory.Exists(StateRoot.FullPath) ? "ok" : "state root directory is missing",
            ["secret_store"] = StoreUnavailable is null ? "ok" : "encrypted store not readable: no master key configured",
        };
        return checks;
    }
}
