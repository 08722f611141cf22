namespace Kheish.Core.Secrets;

/// <summary>
/// The plaintext of <c>auth/global-slots.json</c> (inside the envelope; or the whole file in the
/// legacy plaintext format): <c>{"slots":{"&lt;slot_id&gt;": record}}</c>.
/// </summary>
internal sealed record SlotsSnapshot(Dictionary<string, SlotRecord> Slots);
