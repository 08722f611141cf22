using Kheish.Core.Routes;

namespace Kheish.Core.Accounts;

/// <summary>
/// What a route whose <c>auth_ref</c> is an account sends upstream: what the account's own CLI
/// sends. Codex (codex-rs codex-api/src/auth.rs): <c>Authorization: Bearer</c> and
/// <c>ChatGPT-Account-ID</c>, to the ChatGPT backend unless the route sets <c>base_url</c>.
/// Claude Code with a subscription login: <c>Authorization: Bearer</c> plus the
/// <c>oauth-2025-04-20</c> beta (merged with the betas the agent and the route ask for), and
/// no <c>x-api-key</c>.
/// </summary>
internal static class AccountRouteHeaders
{
    public const string ChatGptAccountIdHeader = "ChatGPT-Account-ID";

    /// <summary>The drivers whose routes can use an account slot.</summary>
    public static bool DriverTakesAccounts(ProviderDriver driver) =>
        ReferenceEquals(driver, ProviderDriver.OpenAI) || ReferenceEquals(driver, ProviderDriver.Anthropic);

    /// <summary>
    /// The headers to inject. <paramref name="agentBetas"/> are the <c>anthropic-beta</c> values the
    /// agent sent (Claude Code sends its own list); they are kept, the OAuth beta is added.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> For(RouteDefinition route, AccountAccess access, IEnumerable<string?> agentBetas)
    {
        ArgumentNullException.ThrowIfNull(route);
        ArgumentNullException.ThrowIfNull(access);
        if (!RouteValues.IsHeaderSafe(access.AccessToken))
        {
            throw new ArgumentException("the access token contains characters not allowed in an HTTP header", nameof(access));
        }

        var headers = new List<KeyValuePair<string, string>>(4) { new("Authorization", "Bearer " + access.AccessToken) };
        if (access.Kind == AccountKind.Codex)
        {
            if (access.AccountId is { Length: > 0 } account)
            {
                headers.Add(new(ChatGptAccountIdHeader, account));
            }

            return headers;
        }

        headers.Add(new("anthropic-version", route.AnthropicVersion ?? ProviderDriver.DefaultAnthropicVersion));
        var betas = new List<string>();
        foreach (string? value in agentBetas.Concat(route.AnthropicBetaHeaders).Append(AccountTokenEndpoints.ClaudeOauthBeta))
        {
            foreach (string beta in (value ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (RouteValues.IsHeaderSafe(beta) && !betas.Contains(beta, StringComparer.Ordinal))
                {
                    betas.Add(beta);
                }
            }
        }

        headers.Add(new("anthropic-beta", string.Join(',', betas)));
        return headers;
    }

    /// <summary>The upstream base: a Codex route without its own <c>base_url</c> goes to the ChatGPT backend.</summary>
    public static string BaseUrlText(RouteDefinition route, AccountKind kind)
    {
        ArgumentNullException.ThrowIfNull(route);
        // RoutesFile hands out the driver's DefaultBaseUrl instance itself when base_url is absent.
        return kind == AccountKind.Codex && ReferenceEquals(route.BaseUrl, route.Driver.DefaultBaseUrl)
            ? AccountTokenEndpoints.CodexBackendBaseUrl.AbsoluteUri.TrimEnd('/')
            : route.BaseUrlText;
    }
}
