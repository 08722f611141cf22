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

/// <summary>A raw JSON value (a tool result relayed as the daemon sent it).</summary>
[JsonSerializable(typeof(System.Text.Json.JsonElement))]
internal sealed partial class McpRawJson : JsonSerializerContext
{
    public static System.Text.Json.Serialization.Metadata.JsonTypeInfo<System.Text.Json.JsonElement> Type => Default.JsonElement;
}
