using System.Diagnostics.CodeAnalysis;
using Kheish.Core.Errors;

namespace Kheish.Core.Broker;

/// <summary>
/// A lease's public name: <c>route-lease-</c>, <c>connector-lease-</c> or <c>mcp-lease-</c>
/// followed by 32 lowercase hex digits. Not a secret: the token is.
/// </summary>
internal readonly record struct LeaseId
{
    private const int HexDigits = 32;

    private LeaseId(string value) => Value = value;

    public string Value { get; }

    public static Result<LeaseId> Parse(string? text)
    {
        if (TryParse(text, out LeaseId id))
        {
            return id;
        }

        return KheishError.BadRequest(
            "invalid_lease_id",
            "a lease id is route-lease-, connector-lease- or mcp-lease- followed by 32 lowercase hex digits");
    }

    public static bool TryParse([NotNullWhen(true)] string? text, out LeaseId id)
    {
        id = default;
        if (text is null)
        {
            return false;
        }

        string? prefix = CredentialAudience.LeasePrefixes.FirstOrDefault(p => text.StartsWith(p, StringComparison.Ordinal));
        if (prefix is null || text.Length != prefix.Length + HexDigits)
        {
            return false;
        }

        foreach (char c in text.AsSpan(prefix.Length))
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        id = new LeaseId(text);
        return true;
    }

    public override string ToString() => Value ?? string.Empty;
}
