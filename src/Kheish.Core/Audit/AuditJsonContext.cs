using System.Text.Json.Serialization;

namespace Kheish.Core.Audit;

/// <summary>The JSON boundary of the ledger's files and reports.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(LedgerRecord))]
[JsonSerializable(typeof(LedgerCheckpoint))]
[JsonSerializable(typeof(LedgerIndex))]
[JsonSerializable(typeof(SigningKeyFile))]
[JsonSerializable(typeof(VerifyReport))]
[JsonSerializable(typeof(LedgerHealth))]
[JsonSerializable(typeof(LedgerStats))]
[JsonSerializable(typeof(ExternalActionsListing))]
[JsonSerializable(typeof(AuditPublicKey))]
[JsonSerializable(typeof(Transparency.ConsistencyReport))]
[JsonSerializable(typeof(Transparency.ReceiptOutput))]
[JsonSerializable(typeof(Transparency.ReceiptVerification))]
internal sealed partial class AuditJsonContext : JsonSerializerContext;
