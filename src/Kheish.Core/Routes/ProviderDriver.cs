using System.Collections.Frozen;

namespace Kheish.Core.Routes;

/// <summary>
/// The providers a route can drive, and the one place that knows each one's default base URL
/// and how it takes credentials (Kheish reference §7). The egress proxy injects
/// <see cref="AuthHeaders"/> and strips <see cref="CredentialHeaderNames"/> from agent requests.
/// </summary>
internal sealed class ProviderDriver
{
    public const string DefaultAnthropicVersion = "2023-06-01";

    private const string Authorization = "Authorization";

    public static readonly ProviderDriver Anthropic = new("anthropic", "https://api.anthropic.com", ["x-api-key"]);

    // Google also accepts the key as "?key=", so an agent could smuggle one in the URL.
    public static readonly ProviderDriver Google = new("google", "https://generativelanguage.googleapis.com", ["x-goog-api-key"], ["key"]);
    public static readonly ProviderDriver OpenAI = new("openai", "https://api.openai.com/v1", [Authorization]);
    public static readonly ProviderDriver OpenRouter = new("openrouter", "https://openrouter.ai/api/v1", [Authorization]);
    public static readonly ProviderDriver XAI = new("xai", "https://api.x.ai/v1", [Authorization]);

    public static IReadOnlyList<ProviderDriver> All { get; } = [Anthropic, Google, OpenAI, OpenRouter, XAI];

    /// <summary>
    /// Every header any driver uses for a credential. An agent request loses all of them, whatever
    /// its route: a key meant for one provider must not travel to another.
    /// </summary>
    public static FrozenSet<string> AllCredentialHeaderNames { get; } =
        All.SelectMany(d => d.CredentialHeaderNames).Append("Proxy-Authorization").ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private ProviderDriver(string name, string defaultBaseUrl, string[] credentialHeaders, string[]? credentialQueryParameters = null)
    {
        Name = name;
        DefaultBaseUrl = new Uri(defaultBaseUrl, UriKind.Absolute);
        CredentialHeaderNames = credentialHeaders.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
        CredentialQueryParameterNames = (credentialQueryParameters ?? []).ToFrozenSet(StringComparer.Ordinal);
    }

    /// <summary>The routes-file spelling, also the secret store's provider name.</summary>
    public string Name { get; }

    public Uri DefaultBaseUrl { get; }

    /// <summary>Headers that carry this driver's credential (compare case-insensitively).</summary>
    public FrozenSet<string> CredentialHeaderNames { get; }

    /// <summary>Query parameters that carry this driver's credential; the egress proxy drops them from agent requests.</summary>
    public FrozenSet<string> CredentialQueryParameterNames { get; }

    public static bool TryParse(string? name, out ProviderDriver driver)
    {
        foreach (ProviderDriver d in All)
        {
            if (string.Equals(d.Name, name, StringComparison.Ordinal))
            {
                driver = d;
                return true;
            }
        }

        driver = null!;
        return false;
    }

    /// <summary>
    /// The headers to set on an upstream request of <paramref name="route"/> carrying <paramref name="apiKey"/>.
    /// <c>organization_env</c>/<c>project_env</c> are read through <paramref name="environment"/> (default: the process).
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, string>> AuthHeaders(
        RouteDefinition route,
        string apiKey,
        Func<string, string?>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(route);
        ArgumentException.ThrowIfNullOrEmpty(apiKey);
        if (!ReferenceEquals(route.Driver, this))
        {
            throw new ArgumentException("the route belongs to another driver", nameof(route));
        }

        if (!RouteValues.IsHeaderSafe(apiKey))
        {
            // Never echo the key: only say what is wrong with it.
            throw new ArgumentException("the API key contains characters not allowed in an HTTP header", nameof(apiKey));
        }

        environment ??= Environment.GetEnvironmentVariable;
        var headers = new List<KeyValuePair<string, string>>(3);
        if (ReferenceEquals(this, Anthropic))
        {
            headers.Add(new("x-api-key", apiKey));
            headers.Add(new("anthropic-version", route.AnthropicVersion ?? DefaultAnthropicVersion));
            if (route.AnthropicBetaHeaders.Count > 0)
            {
                headers.Add(new("anthropic-beta", string.Join(',', route.AnthropicBetaHeaders)));
            }
        }
        else if (ReferenceEquals(this, Google))
        {
            headers.Add(new("x-goog-api-key", apiKey));
        }
        else
        {
            headers.Add(new(Authorization, "Bearer " + apiKey));
            if (ReferenceEquals(this, OpenAI))
            {
                if (route.Organization?.Resolve(environment) is { } organization)
                {
                    headers.Add(new("OpenAI-Organization", organization));
                }

                if (route.Project?.Resolve(environment) is { } project)
                {
                    headers.Add(new("OpenAI-Project", project));
                }
            }
        }

        return headers;
    }

    public override string ToString() => Name;
}
