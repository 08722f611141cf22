using System.Text.Json.Serialization;

namespace Kheish.Daemon.Http;

internal sealed record HealthResponse(string Status);

internal sealed record ReadyResponse(string Status, IReadOnlyDictionary<string, string> Checks);

internal sealed record ProblemDetailsBody(
    string Type,
    string Title,
    int Status,
    string Detail,
    string Code,
    string? Domain = null,
    string? Field = null,
    ProviderError? Error = null);

/// <summary>The provider-compatible error object (OpenAI / Anthropic SDKs print its message).</summary>
internal sealed record ProviderError(string Message, string Type, string Code);

/// <summary>The HTTP wire boundary. Same options as CLI json output (snake_case, nulls omitted).</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(ReadyResponse))]
[JsonSerializable(typeof(ProblemDetailsBody))]
[JsonSerializable(typeof(StatusResponse))]
[JsonSerializable(typeof(SecretWriteRequest))]
[JsonSerializable(typeof(SecretListResponse))]
[JsonSerializable(typeof(Kheish.Core.Secrets.SlotStatus))]
[JsonSerializable(typeof(AcceptedResponse))]
[JsonSerializable(typeof(RuntimeResponse))]
[JsonSerializable(typeof(AgentPlane.WhoAmIResponse))]
[JsonSerializable(typeof(SessionCreateRequest))]
[JsonSerializable(typeof(KeyCreateRequest))]
[JsonSerializable(typeof(IpEntryRequest))]
[JsonSerializable(typeof(ModeRequest))]
[JsonSerializable(typeof(TestActionRequest))]
[JsonSerializable(typeof(TestActionResponse))]
[JsonSerializable(typeof(UsageResponse))]
internal sealed partial class HttpJsonContext : JsonSerializerContext;
