namespace Kheish.Core.Transparency;

/// <summary><c>runs prove --output json</c>: the receipt text and what it is about.</summary>
internal sealed record ReceiptOutput(string ActionId, long Index, long TreeSize, string Origin, string Receipt);

/// <summary><c>audit verify-proof --output json</c>: what a verified receipt proves.</summary>
internal sealed record ReceiptVerification(bool Ok, string ActionId, long Index, long TreeSize, string Origin, string RootHash, Audit.LedgerRecord Record)
{
    /// <summary>The <c>--witness-key</c> witnesses whose cosignature verified (key name and key), when any were required.</summary>
    public IReadOnlyList<string>? CosignedBy { get; init; }
}
