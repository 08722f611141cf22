using Kheish.Core.Broker;

namespace Kheish.Core.Connectors;

/// <summary>
/// A connector definition as written (<c>PUT /v1/runtime/connectors/{kind}/{name}</c>, or the
/// file given to <c>runtime connectors set</c>). Which fields a kind takes is checked by
/// <see cref="ConnectorDefinitions.Build"/>; unknown fields are refused by the JSON reader.
/// </summary>
internal sealed record ConnectorInput
{
    public bool? Enabled { get; init; }

    public string? Command { get; init; }

    public IReadOnlyList<string>? Args { get; init; }

    public string? Cwd { get; init; }

    public Dictionary<string, string>? Env { get; init; }

    public Dictionary<string, ConnectorSecretInput>? EnvKeys { get; init; }

    public string? IngressFrom { get; init; }

    public CredentialScope? Scope { get; init; }

    public ConnectorSecretInput? SigningSecret { get; init; }

    public ConnectorSecretInput? SecretToken { get; init; }

    public ConnectorSecretInput? BotToken { get; init; }

    public string? ApiBaseUrl { get; init; }

    /// <summary>http: mint a new bearer token even though one exists (the old one stops working).</summary>
    public bool? RotateBearerToken { get; init; }
}
