using System.Text.Json.Serialization;

namespace Kheish.Core.Secrets;

/// <summary>The JSON boundary of the slot store on disk and of its metadata views.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    RespectRequiredConstructorParameters = true,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(SlotsSnapshot))]
[JsonSerializable(typeof(SlotStatus))]
[JsonSerializable(typeof(List<SlotStatus>))]
internal sealed partial class SecretsJsonContext : JsonSerializerContext;
