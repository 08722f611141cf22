namespace Kheish.Core.Routes;

/// <summary>
/// The name of a route (<c>[routes.&lt;id&gt;]</c>): non-empty, at most 128 characters, no
/// whitespace, no control characters, no <c>/</c> (ids appear in URL paths).
/// </summary>
internal readonly record struct RouteId
{
    public const int MaxLength = 128;

    private RouteId(string value) => Value = value;

    public string Value { get; }

    public static bool TryParse(string? text, out RouteId id, out string? reason)
    {
        id = default;
        reason = Validate(text);
        if (reason is not null)
        {
            return false;
        }

        id = new RouteId(text!);
        return true;
    }

    public static RouteId Parse(string text) =>
        TryParse(text, out RouteId id, out string? reason) ? id : throw new ArgumentException($"invalid route id: {reason}", nameof(text));

    public override string ToString() => Value;

    private static string? Validate(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "a route id cannot be empty";
        }

        if (text.Length > MaxLength)
        {
            return $"a route id is at most {MaxLength} characters";
        }

        foreach (char c in text)
        {
            if (char.IsWhiteSpace(c))
            {
                return "a route id cannot contain whitespace";
            }

            if (char.IsControl(c))
            {
                return "a route id cannot contain control characters";
            }

            if (c == '/')
            {
                return "a route id cannot contain '/'";
            }
        }

        return null;
    }
}
