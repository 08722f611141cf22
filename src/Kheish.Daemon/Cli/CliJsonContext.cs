using System.Text.Json.Serialization;

namespace Kheish.Daemon.Cli;

/// <summary>The JSON boundary of CLI <c>--output json</c>. Same options as the HTTP context.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(CliErrorEnvelope))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
