namespace Kheish.Core.Secrets;

/// <summary>What reads return about a slot: metadata only, never a secret value.</summary>
internal sealed record SlotStatus(
    string SlotId,
    SlotProvider Provider,
    SlotMode Mode,
    string Summary,
    long UpdatedAtMs,
    Dictionary<string, string>? Details);
