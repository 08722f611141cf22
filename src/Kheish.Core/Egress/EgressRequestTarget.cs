using System.Collections.Frozen;
using System.Text;
using Kheish.Core.Errors;
using Kheish.Core.Text;

namespace Kheish.Core.Egress;

/// <summary>
/// The upstream part of an agent's request target: what follows <c>/agent/v1/routes/&lt;route&gt;</c>,
/// taken from the raw request line so the agent's percent-encoding reaches the provider
/// unchanged. Dot segments are refused (they would climb out of the route's base path), and
/// query parameters that commonly carry a key (<c>key</c>, <c>api_key</c>, ...) are dropped.
/// </summary>
internal sealed record EgressRequestTarget(string Path, string Query)
{
    public const string Prefix = "/agent/v1/routes/";

    /// <summary>Longest path (without query) recorded in a ledger target; longer ones are cut with a marker.</summary>
    public const int MaxLedgerPathLength = 1024;

    private static readonly FrozenSet<string> CredentialQueryParameters = new[]
    {
        "key", "api_key", "apikey", "api-key", "access_token", "x-goog-api-key", "x-api-key", "token", "auth", "authorization",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>Query parameter names that are never forwarded, whatever the route.</summary>
    public static IReadOnlySet<string> StrippedQueryParameters => CredentialQueryParameters;

    /// <summary>Splits a raw request target (<c>/agent/v1/routes/openai/chat/completions?x=1</c>).</summary>
    public static Result<EgressRequestTarget> Parse(string rawTarget)
    {
        int q = rawTarget.IndexOf('?', StringComparison.Ordinal);
        string path = q < 0 ? rawTarget : rawTarget[..q];
        string query = q < 0 ? string.Empty : rawTarget[(q + 1)..];
        if (!path.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return Invalid("the request target is not under /agent/v1/routes/");
        }

        int slash = path.IndexOf('/', Prefix.Length);
        string suffix = slash < 0 ? string.Empty : path[slash..];
        foreach (string segment in suffix.Split('/'))
        {
            string decoded = Uri.UnescapeDataString(segment);
            if (decoded is "." or ".." || decoded.Contains('\\', StringComparison.Ordinal) || decoded.Contains('/', StringComparison.Ordinal)
                || ControlCharacters.In(decoded))
            {
                return Invalid("the upstream path may not contain dot segments, encoded slashes, backslashes or control characters");
            }
        }

        return new EgressRequestTarget(suffix, FilterQuery(query));
    }

    /// <summary>The raw query without credential-carrying parameters (order and encoding of the rest kept).</summary>
    public static string FilterQuery(string rawQuery)
    {
        if (rawQuery.Length == 0)
        {
            return string.Empty;
        }

        var kept = new List<string>();
        foreach (string pair in rawQuery.Split('&'))
        {
            if (pair.Length == 0)
            {
                continue;
            }

            if (!CredentialQueryParameters.Contains(NameOf(pair)))
            {
                kept.Add(pair);
            }
        }

        return string.Join('&', kept);
    }

    /// <summary>The URL to call: the route's base URL (no trailing slash) + path + filtered query.</summary>
    public Uri UpstreamUri(string baseUrlText) =>
        new(baseUrlText + Path + (Query.Length > 0 ? "?" + Query : string.Empty), UriKind.Absolute);

    /// <summary>
    /// <c>&lt;route&gt; &lt;METHOD&gt; &lt;path&gt;[?name&amp;name]</c>: the query keeps only parameter
    /// names, so a value that holds a secret never reaches the ledger.
    /// </summary>
    public string LedgerTarget(string routeId, string method)
    {
        string path = Path.Length == 0 ? "/" : Path;
        if (path.Length > MaxLedgerPathLength)
        {
            path = path[..MaxLedgerPathLength] + "...";
        }

        var text = new StringBuilder(routeId).Append(' ').Append(method).Append(' ').Append(Visible(path));
        if (Query.Length > 0)
        {
            string[] names = [.. Query.Split('&').Select(p => Visible(NameOf(p))).Where(n => n.Length > 0).Distinct(StringComparer.Ordinal)];
            if (names.Length > 0)
            {
                text.Append('?').Append(string.Join('&', names.Take(32)));
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// An id an agent sends in <c>X-Kheish-Run-Id</c> and friends: 1 to 128 visible ASCII
    /// characters (no spaces), so it is safe in a ledger line and a bucket name.
    /// </summary>
    public static bool IsValidContextId(string value)
    {
        if (value.Length is 0 or > 128)
        {
            return false;
        }

        foreach (char c in value)
        {
            if (c is <= ' ' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Anything outside visible ASCII becomes '?': a ledger line holds no control or odd characters.</summary>
    private static string Visible(string text) =>
        string.Create(text.Length, text, static (span, source) =>
        {
            for (int i = 0; i < source.Length; i++)
            {
                span[i] = source[i] is > ' ' and <= '~' ? source[i] : '?';
            }
        });

    private static string NameOf(string pair)
    {
        int eq = pair.IndexOf('=', StringComparison.Ordinal);
        string raw = eq < 0 ? pair : pair[..eq];
        try
        {
            return Uri.UnescapeDataString(raw.Replace('+', ' ')).Trim();
        }
        catch (UriFormatException)
        {
            return raw;
        }
    }

    private static KheishError Invalid(string message) => KheishError.BadRequest("invalid_upstream_path", message);
}
