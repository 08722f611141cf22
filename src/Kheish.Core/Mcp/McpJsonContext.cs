using System.Text.Json.Serialization;

namespace Kheish.Core.Mcp;

/// <summary><c>mcp-servers.json</c> on disk: version and the daemon-managed definitions (slot references only).</summary>
internal sealed record McpServersFileContent(int Version, IReadOnlyList<McpServerDefinition> Servers);

/// <summary>The JSON boundary of MCP state on disk and of server definitions over HTTP.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(McpServersFileContent))]
[JsonSerializable(typeof(McpServerDefinition))]
internal sealed partial class McpJsonContext : JsonSerializerContext;
