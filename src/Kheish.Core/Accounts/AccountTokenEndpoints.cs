using System.Net;
using Kheish.Core.Errors;

namespace Kheish.Core.Accounts;

/// <summary>
/// Where refresh requests go, as the official CLIs send them: Codex posts to
/// <c>https://auth.openai.com/oauth/token</c> with client id <c>app_EMoamEEZ73f0CkXaXp7hrann</c>
/// (codex-rs core/src/auth.rs); Claude Code posts to <c>https://platform.claude.com/v1/oauth/token</c>
/// with client id <c>9d1c250a-e61b-44d9-88ed-5944d1962f5e</c> (Claude Code 2.1.x).
/// <c>KHEISH_CODEX_ISSUER</c> and <c>KHEISH_CLAUDE_TOKEN_URL</c> override the endpoints (tests point
/// them at loopback); plain http is accepted only for loopback hosts.
/// </summary>
internal sealed record AccountTokenEndpoints(Uri CodexTokenUrl, Uri ClaudeTokenUrl)
{
    public const string CodexIssuerVariable = "KHEISH_CODEX_ISSUER";
    public const string ClaudeTokenUrlVariable = "KHEISH_CLAUDE_TOKEN_URL";
    public const string DefaultCodexIssuer = "https://auth.openai.com";
    public const string DefaultClaudeTokenUrl = "https://platform.claude.com/v1/oauth/token";
    public const string CodexClientId = "app_EMoamEEZ73f0CkXaXp7hrann";
    public const string ClaudeClientId = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";

    /// <summary>The scope Codex sends with every refresh.</summary>
    public const string CodexRefreshScope = "openid profile email";

    /// <summary>Codex's backend when signed in with ChatGPT (codex-rs model_provider_info.rs); a route's base_url overrides it.</summary>
    public static readonly Uri CodexBackendBaseUrl = new("https://chatgpt.com/backend-api/codex");

    /// <summary>The beta Claude Code adds to every Messages call made with an OAuth token.</summary>
    public const string ClaudeOauthBeta = "oauth-2025-04-20";

    public Uri TokenUrl(AccountKind kind) => kind == AccountKind.Codex ? CodexTokenUrl : ClaudeTokenUrl;

    public static Result<AccountTokenEndpoints> FromEnvironment(Func<string, string?> getEnv)
    {
        ArgumentNullException.ThrowIfNull(getEnv);
        string issuer = getEnv(CodexIssuerVariable) is { Length: > 0 } i ? i.Trim().TrimEnd('/') : DefaultCodexIssuer;
        string claude = getEnv(ClaudeTokenUrlVariable) is { Length: > 0 } c ? c.Trim() : DefaultClaudeTokenUrl;
        if (!Check(issuer + "/oauth/token", CodexIssuerVariable).TryGetValue(out Uri? codexUrl, out KheishError? error)
            || !Check(claude, ClaudeTokenUrlVariable).TryGetValue(out Uri? claudeUrl, out error))
        {
            return error;
        }

        return new AccountTokenEndpoints(codexUrl, claudeUrl);
    }

    private static Result<Uri> Check(string text, string variable)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) || uri.UserInfo.Length > 0 || uri.Fragment.Length > 0
            || (uri.Scheme != Uri.UriSchemeHttps && !(uri.Scheme == Uri.UriSchemeHttp && IsLoopback(uri))))
        {
            return KheishError.Misconfigured(
                "account_endpoint_invalid",
                $"{variable} must be an https URL without credentials or fragment (http only for 127.0.0.1, ::1 or localhost)");
        }

        return uri;
    }

    private static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.IdnHost, out IPAddress? address) && IPAddress.IsLoopback(address));
}
