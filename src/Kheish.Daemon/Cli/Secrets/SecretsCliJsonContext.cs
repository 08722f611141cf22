using System.Text.Json.Serialization;
using Kheish.Core.Secrets;

namespace Kheish.Daemon.Cli.Secrets;

internal sealed record SlotListOutput(IReadOnlyList<SlotStatus> Slots);

internal sealed record SlotDeletedOutput(string SlotId, bool Deleted);

internal sealed record MasterKeyOutput(string MasterKey, string KeyId);

internal sealed record RekeyOutput(int Rekeyed, int AlreadyCurrent, string OldKeyId, string NewKeyId);

/// <summary>The <c>--output json</c> documents of the <c>secrets</c> verbs. Metadata only.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(SlotStatus))]
[JsonSerializable(typeof(SlotListOutput))]
[JsonSerializable(typeof(SlotDeletedOutput))]
[JsonSerializable(typeof(MasterKeyOutput))]
[JsonSerializable(typeof(RekeyOutput))]
internal sealed partial class SecretsCliJsonContext : JsonSerializerContext;
