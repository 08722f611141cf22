using Kheish.Core.Errors;

namespace Kheish.Core.Connectors;

/// <summary>
/// Validated names used by connectors: a connector name (1..64 of [a-z0-9_-], starting with a
/// letter or digit) and an env key (1..128 of [A-Z0-9_], not starting with a digit). Both end up
/// in URLs, slot ids (<c>connectors.&lt;name&gt;.&lt;KEY&gt;</c>), ledger targets and environment
/// variable names, so nothing else is accepted.
/// </summary>
internal static class ConnectorName
{
    public const int MaxNameLength = 64;
    public const int MaxEnvKeyLength = 128;

    public static KheishError? CheckName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxNameLength || !IsAlnumLower(name[0])
            || !name.All(c => IsAlnumLower(c) || c is '_' or '-'))
        {
            return KheishError.BadRequest(
                "invalid_connector_name",
                $"a connector name is 1 to {MaxNameLength} characters from [a-z0-9_-], starting with a letter or digit");
        }

        return null;
    }

    public static KheishError? CheckEnvKey(string? key, string what = "env key")
    {
        if (string.IsNullOrEmpty(key) || key.Length > MaxEnvKeyLength || char.IsAsciiDigit(key[0])
            || !key.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c) || c == '_'))
        {
            return KheishError.BadRequest(
                "invalid_env_key",
                $"{what} `{Printable(key)}` must be 1 to {MaxEnvKeyLength} characters from [A-Z0-9_], not starting with a digit");
        }

        return null;
    }

    /// <summary>A name safe to echo in a message: printable ASCII only, bounded.</summary>
    public static string Printable(string? text)
    {
        if (text is null)
        {
            return "";
        }

        string cut = text.Length > 64 ? text[..64] + "…" : text;
        return new string([.. cut.Select(c => c is >= ' ' and <= '~' ? c : '?')]);
    }

    private static bool IsAlnumLower(char c) => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c);
}
