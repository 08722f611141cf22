using System.Net;

namespace Kheish.Core.Accounts;

/// <summary>
/// The URL and scope rules of MCP OAuth, applied to everything a login or a config names and to
/// everything a server's metadata returns: https only (plain http for loopback hosts, and only
/// when the operator allowed it), no user info, no fragment, no query key that looks like a
/// credential; scopes are RFC 6749 scope tokens.
/// </summary>
internal static class McpOauthUrls
{
    public const int MaxScopes = 64;
    public const int MaxScopeLength = 128;

    /// <summary>Query keys that carry credentials: a URL holding one would put a secret in logs and metadata.</summary>
    private static readonly string[] SecretKeys =
    [
        "token", "access_token", "refresh_token", "id_token", "client_secret", "secret", "password", "passwd", "pwd",
        "api_key", "apikey", "api-key", "key", "code", "auth", "authorization", "sig", "signature", "session",
    ];

    /// <summary>Null when <paramref name="text"/> is acceptable; otherwise why not (names the field, never echoes the value).</summary>
    public static string? Check(string? text, string field, bool allowHttpForLoopback, bool allowQuery = true)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) || string.IsNullOrEmpty(uri.Host)
            || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            return $"{field} must be an absolute https URL";
        }

        if (uri.UserInfo.Length > 0)
        {
            return $"{field} must not hold user info (user:password@)";
        }

        if (uri.Fragment.Length > 0 || text!.Contains('#', StringComparison.Ordinal))
        {
            return $"{field} must not have a fragment";
        }

        if (uri.Scheme == Uri.UriSchemeHttp)
        {
            if (!IsLoopback(uri))
            {
                return $"{field} must use https (plain http is accepted only for loopback hosts, with --allow-http-for-loopback)";
            }

            if (!allowHttpForLoopback)
            {
                return $"{field} uses plain http; pass --allow-http-for-loopback to accept it for a loopback host";
            }
        }

        if (uri.Query.Length > 1)
        {
            if (!allowQuery)
            {
                return $"{field} must not have a query";
            }

            foreach (string pair in uri.Query[1..].Split('&'))
            {
                string key = Uri.UnescapeDataString(pair.Split('=')[0]).Trim().ToLowerInvariant();
                if (SecretKeys.Contains(key, StringComparer.Ordinal) || key.EndsWith("_token", StringComparison.Ordinal) || key.EndsWith("secret", StringComparison.Ordinal))
                {
                    return $"{field} has a query key that looks like a credential; remove it";
                }
            }
        }

        return null;
    }

    public static bool IsLoopback(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        return uri.IsLoopback || (IPAddress.TryParse(uri.IdnHost, out IPAddress? address) && IPAddress.IsLoopback(address));
    }

    /// <summary>RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ), bounded.</summary>
    public static bool IsScope(string? scope) =>
        scope is { Length: > 0 and <= MaxScopeLength } && scope.All(c => c == '\x21' || (c >= '\x23' && c <= '\x5B') || (c >= '\x5D' && c <= '\x7E'));

    /// <summary>
    /// A client ID metadata document URL (draft-ietf-oauth-client-id-metadata-document): https
    /// always (never the loopback exception: the authorization server fetches it), a path, no
    /// query, userinfo or fragment.
    /// </summary>
    public static string? CheckClientMetadataUrl(string? text, string field)
    {
        if (Uri.TryCreate(text, UriKind.Absolute, out Uri? u) && u.Scheme == Uri.UriSchemeHttp)
        {
            return $"{field} must use https (the authorization server fetches it; no loopback exception)";
        }

        if (Check(text, field, allowHttpForLoopback: false, allowQuery: false) is { } problem)
        {
            return problem;
        }

        return new Uri(text!).AbsolutePath is "/" or "" ? $"{field} must have a path (the client ID metadata document's own URL, e.g. https://example.com/client.json)" : null;
    }

    /// <summary>Null when the list is acceptable; otherwise why not.</summary>
    public static string? CheckScopes(IReadOnlyList<string>? scopes, string field)
    {
        if (scopes is null)
        {
            return null;
        }

        if (scopes.Count > MaxScopes)
        {
            return $"{field} has more than {MaxScopes} scopes";
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < scopes.Count; i++)
        {
            if (!IsScope(scopes[i]))
            {
                return $"{field}[{i}] is not an OAuth scope (1-{MaxScopeLength} printable ASCII characters, no space, quote or backslash)";
            }

            if (!seen.Add(scopes[i]))
            {
                return $"{field} lists scope `{scopes[i]}` twice";
            }
        }

        return null;
    }

    /// <summary>The RFC 9728 well-known metadata URLs for a resource: path-inserted first, then the origin's.</summary>
    public static IReadOnlyList<Uri> ProtectedResourceMetadataUrls(Uri resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        string origin = resource.GetLeftPart(UriPartial.Authority);
        string path = resource.AbsolutePath.TrimEnd('/');
        var urls = new List<Uri>();
        if (path.Length > 0)
        {
            urls.Add(new Uri(origin + "/.well-known/oauth-protected-resource" + path));
        }

        urls.Add(new Uri(origin + "/.well-known/oauth-protected-resource"));
        return urls;
    }

    /// <summary>RFC 8414 §3.1 then OpenID discovery URLs for an issuer (path-inserted and path-appended forms).</summary>
    public static IReadOnlyList<Uri> AuthorizationServerMetadataUrls(Uri issuer)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        string origin = issuer.GetLeftPart(UriPartial.Authority);
        string path = issuer.AbsolutePath.TrimEnd('/');
        var urls = new List<Uri> { new(origin + "/.well-known/oauth-authorization-server" + path) };
        if (path.Length > 0)
        {
            urls.Add(new Uri(origin + "/.well-known/openid-configuration" + path));
        }

        urls.Add(new Uri(origin + path + "/.well-known/openid-configuration"));
        return urls;
    }
}
