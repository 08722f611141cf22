using Kheish.Core.Broker;

namespace Kheish.Core.Connectors;

/// <summary>
/// One connector as stored in <c>connectors.json</c>. Secret fields are references only
/// (<see cref="ConnectorSecret"/>); the http bearer token is kept as its SHA-256 digest.
/// </summary>
internal sealed record ConnectorDefinition
{
    public required ConnectorKind Kind { get; init; }

    public required string Name { get; init; }

    public bool Enabled { get; init; } = true;

    // ---- external ----
    public string? Command { get; init; }

    public IReadOnlyList<string>? Args { get; init; }

    public string? Cwd { get; init; }

    /// <summary>Plain (non-secret) variables given to the sidecar as they are.</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }

    /// <summary>Credentials the sidecar may fetch with its lease, by env key.</summary>
    public IReadOnlyDictionary<string, ConnectorSecret>? EnvKeys { get; init; }

    /// <summary>The ingress connector (http, slack or telegram) whose events and deliveries this sidecar handles.</summary>
    public string? IngressFrom { get; init; }

    /// <summary>Narrows what the sidecar's lease may reach (connector_* dimensions); empty = unrestricted.</summary>
    public CredentialScope? Scope { get; init; }

    // ---- ingress kinds ----
    /// <summary>http: lowercase hex SHA-256 of the per-connector bearer token.</summary>
    public string? BearerDigest { get; init; }

    /// <summary>slack: the signing secret.</summary>
    public ConnectorSecret? SigningSecret { get; init; }

    /// <summary>telegram: the webhook secret token.</summary>
    public ConnectorSecret? SecretToken { get; init; }

    /// <summary>slack, telegram: the bot token injected into deliveries.</summary>
    public ConnectorSecret? BotToken { get; init; }

    /// <summary>slack, telegram: the platform API base URL (defaults to the real one).</summary>
    public string? ApiBaseUrl { get; init; }

    public long UpdatedAtMs { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public string Key => KeyOf(Kind, Name);

    public static string KeyOf(ConnectorKind kind, string name) => kind.Name() + "/" + name;

    /// <summary>Every secret field by its slot key (the KEY of <c>connectors.&lt;name&gt;.&lt;KEY&gt;</c>).</summary>
    public IEnumerable<(string Key, ConnectorSecret Secret)> Secrets()
    {
        foreach (var (key, secret) in EnvKeys ?? new Dictionary<string, ConnectorSecret>())
        {
            yield return (key, secret);
        }

        if (SigningSecret is not null)
        {
            yield return ("SIGNING_SECRET", SigningSecret);
        }

        if (SecretToken is not null)
        {
            yield return ("SECRET_TOKEN", SecretToken);
        }

        if (BotToken is not null)
        {
            yield return ("BOT_TOKEN", BotToken);
        }
    }

    /// <summary>The slots this connector draws on (a referenced slot cannot be deleted).</summary>
    public IEnumerable<string> SlotIds() => Secrets().Select(s => s.Secret.SlotId).OfType<string>();

    public override string ToString() => $"ConnectorDefinition {{ {Key}, Enabled = {Enabled} }}";
}
