using System.Text;
using System.Text.Json;

namespace Kheish.Core.Accounts;

/// <summary>
/// The few claims the daemon reads from a Codex token (<c>exp</c>, <c>scp</c>, the ChatGPT
/// account id). The signature is not checked: the values only decide when to refresh and which
/// account header to send, and the upstream verifies the token itself.
/// </summary>
internal sealed record JwtClaims(long? ExpiresAtMs, IReadOnlyList<string>? Scopes, string? ChatGptAccountId)
{
    private const string OpenAiAuthClaim = "https://api.openai.com/auth";

    /// <summary>The claims of a compact JWT, or null when the text is not one.</summary>
    public static JwtClaims? TryRead(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        string[] parts = token.Split('.');
        if (parts.Length != 3 || parts[1].Length == 0 || parts[1].Length > 64 * 1024)
        {
            return null;
        }

        byte[] payload;
        try
        {
            payload = Base64UrlDecode(parts[1]);
        }
        catch (FormatException)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(payload);
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            long? exp = root.TryGetProperty("exp", out JsonElement e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long seconds)
                && seconds is > 0 and < 100_000_000_000
                ? seconds * 1000
                : null;
            IReadOnlyList<string>? scopes = root.TryGetProperty("scp", out JsonElement s) ? ScopeList.FromJson(s) : null;
            string? account = root.TryGetProperty(OpenAiAuthClaim, out JsonElement auth) && auth.ValueKind == JsonValueKind.Object
                && auth.TryGetProperty("chatgpt_account_id", out JsonElement id) && id.ValueKind == JsonValueKind.String
                ? id.GetString()
                : null;
            return new JwtClaims(exp, scopes, account);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static byte[] Base64UrlDecode(string text)
    {
        var builder = new StringBuilder(text.Length + 3);
        builder.Append(text.Replace('-', '+').Replace('_', '/'));
        while (builder.Length % 4 != 0)
        {
            builder.Append('=');
        }

        return Convert.FromBase64String(builder.ToString());
    }
}

/// <summary>OAuth scope lists: space-separated strings or JSON arrays, normalised to sorted distinct entries.</summary>
internal static class ScopeList
{
    public static IReadOnlyList<string> Parse(string? spaceSeparated) =>
        Normalize((spaceSeparated ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>A JSON array of strings or a space-separated string; null for anything else.</summary>
    public static IReadOnlyList<string>? FromJson(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => Parse(value.GetString()),
        JsonValueKind.Array when value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String) =>
            Normalize(value.EnumerateArray().Select(v => v.GetString()!.Trim()).Where(v => v.Length > 0)),
        _ => null,
    };

    public static IReadOnlyList<string> Normalize(IEnumerable<string> scopes) =>
        [.. scopes.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>The entries of <paramref name="returned"/> that <paramref name="held"/> does not contain.</summary>
    public static IReadOnlyList<string> NotHeld(IReadOnlyList<string> returned, IReadOnlyList<string> held) =>
        [.. returned.Where(s => !held.Contains(s, StringComparer.Ordinal))];
}
