using System.Text.Json.Serialization;

namespace Kheish.Core.Crypto;

/// <summary>The JSON boundary of encrypted state files.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Envelope))]
internal sealed partial class CryptoJsonContext : JsonSerializerContext;
