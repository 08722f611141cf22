using Kheish.Core.Errors;
using Kheish.Core.Secrets;

namespace Kheish.Daemon.Cli.Secrets;

/// <summary>
/// Where the <c>secrets</c> verbs act: the state-root files directly (<see cref="OfflineSecretsBackend"/>)
/// or the running daemon over its control plane. <see cref="SecretsCommand"/> chooses one in one place.
/// Reads return metadata only.
/// </summary>
internal interface ISecretsBackend
{
    Task<Result<IReadOnlyList<SlotStatus>>> ListAsync(CancellationToken ct);

    /// <summary>The slot's status, or a <c>slot_not_found</c> (NotFound) error.</summary>
    Task<Result<SlotStatus>> GetAsync(SlotId id, CancellationToken ct);

    /// <summary>Creates or replaces a slot (the store stamps <c>updated_at_ms</c>).</summary>
    Task<Result<SlotStatus>> SetAsync(SlotRecord record, CancellationToken ct);

    /// <summary>True when the slot existed and is gone; false when there was none.</summary>
    Task<Result<bool>> DeleteAsync(SlotId id, CancellationToken ct);
}
