using System.Text.Json.Serialization;

namespace Kheish.Core.Connectors;

/// <summary>The on-disk shape of <c>connectors.json</c> (inside the envelope when a master key is set).</summary>
internal sealed record ConnectorsSnapshot(int Version, Dictionary<string, ConnectorDefinition> Connectors);

/// <summary>On-disk state of connectors. Same options as the other state contexts.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(ConnectorsSnapshot))]
[JsonSerializable(typeof(ConnectorInput))]
[JsonSerializable(typeof(string[]))]
internal sealed partial class ConnectorsJsonContext : JsonSerializerContext;
