using Kheish.Core.Routes;

namespace Kheish.Core.Secrets;

/// <summary>The routes check's view of a loaded secret store: which provider each slot has.</summary>
internal sealed class SlotStoreAuthRefCatalog(SlotStore store, string? unavailableReason = null) : IAuthRefCatalog
{
    public string? UnavailableReason { get; } = unavailableReason;

    public string? ProviderOf(string slotId) =>
        SlotId.Parse(slotId).TryGetValue(out SlotId id, out _) && store.Get(id) is { } record
            ? record.Provider.Name()
            : null;

    public string? ModeOf(string slotId) =>
        SlotId.Parse(slotId).TryGetValue(out SlotId id, out _) && store.Get(id) is { } record
            ? record.Mode.Name()
            : null;
}

/// <summary>A catalog built from slot metadata (the online CLI asks the daemon for it).</summary>
internal sealed class SlotStatusAuthRefCatalog(IReadOnlyList<SlotStatus> slots) : IAuthRefCatalog
{
    private readonly Dictionary<string, string> _providers =
        slots.ToDictionary(s => s.SlotId, s => s.Provider.Name(), StringComparer.Ordinal);

    public string? UnavailableReason => null;

    private readonly Dictionary<string, string> _modes =
        slots.ToDictionary(s => s.SlotId, s => s.Mode.Name(), StringComparer.Ordinal);

    public string? ProviderOf(string slotId) => _providers.GetValueOrDefault(slotId);

    public string? ModeOf(string slotId) => _modes.GetValueOrDefault(slotId);
}
