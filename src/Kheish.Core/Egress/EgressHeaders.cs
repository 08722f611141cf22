using System.Collections.Frozen;
using Kheish.Core.Routes;

namespace Kheish.Core.Egress;

/// <summary>
/// Which headers cross the egress proxy, in each direction. An agent request loses every
/// credential any provider uses, cookies, the daemon's own <c>X-Kheish-*</c> and API-key
/// headers, <c>Host</c>, and the hop-by-hop headers of RFC 9110 §7.6.1 (plus those its
/// <c>Connection</c> header names) and <c>Accept-Encoding</c> (responses come uncompressed so
/// echoed keys can be redacted). An upstream response loses hop-by-hop headers, cookies and
/// anything whose name looks like it carries a credential, so a provider echoing a key cannot
/// hand it to the agent.
/// </summary>
internal static class EgressHeaders
{
    public const string KheishPrefix = "X-Kheish-";

    private static readonly FrozenSet<string> HopByHop = new[]
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private static readonly FrozenSet<string> RequestDropped = new[]
    {
        "Host", "Cookie", "Cookie2", "X-API-Key", "Expect", "Content-Length",
        // The response must arrive uncompressed so an echoed provider key can be found and redacted.
        "Accept-Encoding",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private static readonly FrozenSet<string> ResponseDropped = new[]
    {
        "Set-Cookie", "Set-Cookie2", "Authentication-Info", "Proxy-Authentication-Info",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>Name fragments that mark a response header as credential-bearing (compared case-insensitively).</summary>
    private static readonly string[] CredentialFragments =
    [
        "authorization", "api-key", "apikey", "api_key", "secret", "password", "cookie", "credential", "session-key",
    ];

    /// <summary>
    /// The header names listed in <c>Connection</c> values (comma-separated tokens): these are
    /// hop-by-hop for this message and never forwarded.
    /// </summary>
    public static HashSet<string> ConnectionNamed(IEnumerable<string?> connectionValues)
    {
        var named = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (string? value in connectionValues)
        {
            if (value is null)
            {
                continue;
            }

            foreach (string token in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                named.Add(token);
            }
        }

        return named;
    }

    public static bool IsHopByHop(string name) =>
        HopByHop.Contains(name) || name.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase);

    /// <summary>True when an agent request header may be forwarded upstream.</summary>
    public static bool ForwardRequestHeader(string name, IReadOnlySet<string> connectionNamed) =>
        !IsHopByHop(name)
        && !connectionNamed.Contains(name)
        && !RequestDropped.Contains(name)
        && !ProviderDriver.AllCredentialHeaderNames.Contains(name)
        && !name.StartsWith(KheishPrefix, StringComparison.OrdinalIgnoreCase);

    /// <summary>True when an upstream response header may be relayed to the agent.</summary>
    public static bool RelayResponseHeader(string name, IReadOnlySet<string> connectionNamed) =>
        !IsHopByHop(name)
        && !connectionNamed.Contains(name)
        && !ResponseDropped.Contains(name)
        && !ProviderDriver.AllCredentialHeaderNames.Contains(name)
        && !name.StartsWith(KheishPrefix, StringComparison.OrdinalIgnoreCase)
        && !LooksLikeCredential(name);

    public static bool LooksLikeCredential(string name)
    {
        foreach (string fragment in CredentialFragments)
        {
            if (name.Contains(fragment, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        // "token" marks a credential (x-auth-token, x-amz-security-token), "tokens" a count
        // (OpenAI's x-ratelimit-remaining-tokens), which the agent legitimately needs.
        for (int at = name.IndexOf("token", StringComparison.OrdinalIgnoreCase); at >= 0;
             at = name.IndexOf("token", at + 1, StringComparison.OrdinalIgnoreCase))
        {
            int after = at + "token".Length;
            if (after == name.Length || name[after] is not ('s' or 'S'))
            {
                return true;
            }
        }

        return false;
    }
}
