using System.Text.Json;
using System.Text.Json.Serialization;
using Kheish.Core.Broker;

namespace Kheish.Core.Connectors;

/// <summary>
/// What a read shows of a connector: its settings, where each secret field comes from, and the
/// sidecar's state. <see cref="BearerToken"/> is set only in the answer to the PUT that minted it.
/// </summary>
internal sealed record ConnectorView(
    ConnectorKind Kind,
    string Name,
    bool Enabled,
    long UpdatedAtMs)
{
    public string? Command { get; init; }
    public IReadOnlyList<string>? Args { get; init; }
    public string? Cwd { get; init; }
    public IReadOnlyDictionary<string, string>? Env { get; init; }
    public IReadOnlyDictionary<string, ConnectorSecretView>? EnvKeys { get; init; }
    public string? IngressFrom { get; init; }
    public CredentialScope? Scope { get; init; }
    public ConnectorSecretView? SigningSecret { get; init; }
    public ConnectorSecretView? SecretToken { get; init; }
    public ConnectorSecretView? BotToken { get; init; }
    public bool? BearerTokenConfigured { get; init; }
    public string? ApiBaseUrl { get; init; }
    public SidecarStatus? Sidecar { get; init; }
    public int? QueuedEvents { get; init; }

    /// <summary>http: the new ingress bearer token, shown once.</summary>
    public string? BearerToken { get; init; }

    public override string ToString() => $"ConnectorView {{ {Kind.Name()}/{Name}, Enabled = {Enabled} }}";
}

internal sealed record ConnectorListResponse(IReadOnlyList<ConnectorView> Connectors);

/// <summary>A verified ingress event, as queued for the sidecar or an admin.</summary>
internal sealed record ConnectorEvent(
    string Id,
    string Connector,
    long ReceivedAtMs,
    string? ContentType,
    string Body,
    string BodyDigest);

internal sealed record ConnectorEventsResponse(IReadOnlyList<ConnectorEvent> Events, long Dropped);

internal sealed record CredentialResponse(string Value)
{
    public override string ToString() => "CredentialResponse { Value = <redacted> }";
}

internal sealed record LeaseRenewResponse(string Token, string LeaseId, long ExpiresAtMs)
{
    public override string ToString() => $"LeaseRenewResponse {{ {LeaseId}, Token = <redacted> }}";
}

/// <summary>Body of <c>POST /v1/connectors/external/{name}/deliver</c>: a platform API method and its JSON payload.</summary>
internal sealed record DeliverRequest(string Method, JsonElement Payload);

internal sealed record SlackChallengeResponse(string Challenge);

internal sealed record IngressAcceptedResponse(bool Accepted, string EventId, bool Queued);

internal sealed record ConnectorDeletedResponse(bool Deleted);

/// <summary>Wire types of the connector endpoints (control plane and connector plane) and the CLI.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(ConnectorView))]
[JsonSerializable(typeof(ConnectorListResponse))]
[JsonSerializable(typeof(ConnectorEventsResponse))]
[JsonSerializable(typeof(CredentialResponse))]
[JsonSerializable(typeof(LeaseRenewResponse))]
[JsonSerializable(typeof(DeliverRequest))]
[JsonSerializable(typeof(SlackChallengeResponse))]
[JsonSerializable(typeof(IngressAcceptedResponse))]
[JsonSerializable(typeof(ConnectorDeletedResponse))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(ConnectorInput))]
internal sealed partial class ConnectorsWireJsonContext : JsonSerializerContext;
