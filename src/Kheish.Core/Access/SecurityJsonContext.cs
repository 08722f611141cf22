using System.Text.Json.Serialization;

namespace Kheish.Core.Access;

/// <summary>The on-disk shape of security.json as written by kheish-daemon (reading is done by <see cref="SecurityConfigFile"/>).</summary>
internal sealed record SecurityFileDocument(
    string Mode,
    IReadOnlyList<ApiKeyDocument> ApiKeys,
    IReadOnlyList<string> AllowedIps,
    IReadOnlyList<string> TrustedProxies,
    string? CreatedAt);

internal sealed record ApiKeyDocument(string Id, string Digest, string Principal, ApiKeyScope? Scope, string? CreatedAt)
{
    public int? RateLimit { get; init; }

    public int? MaxConcurrent { get; init; }

    public ApiKeyBudget? Budget { get; init; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    WriteIndented = true)]
[JsonSerializable(typeof(SecurityFileDocument))]
[JsonSerializable(typeof(ApiKeyScope))]
[JsonSerializable(typeof(ApiKeyBudget))]
internal sealed partial class SecurityJsonContext : JsonSerializerContext;
