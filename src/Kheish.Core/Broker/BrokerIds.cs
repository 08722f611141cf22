using Kheish.Core.Errors;

namespace Kheish.Core.Broker;

/// <summary>
/// Checks the plain-string names the broker receives (slot, route, connector, MCP server,
/// env key): non-empty, bounded, printable, no whitespace, no <c>/</c>. They end up in
/// URLs, file maps and messages, so anything else is refused at the edge.
/// </summary>
internal static class BrokerIds
{
    public const int MaxLength = 256;

    public static KheishError? Check(string? value, string what)
    {
        if (IsValid(value))
        {
            return null;
        }

        return KheishError.BadRequest(
            $"invalid_{what.Replace(' ', '_')}",
            $"a {what} is 1 to {MaxLength} printable characters without whitespace or '/'");
    }

    public static bool IsValid(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxLength)
        {
            return false;
        }

        foreach (char c in value)
        {
            if (c <= ' ' || c == '/' || c == '\u007f' || char.IsWhiteSpace(c) || char.IsControl(c))
            {
                return false;
            }
        }

        return true;
    }
}
