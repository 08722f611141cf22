namespace Kheish.Core.Text;

/// <summary>
/// The C0 and C1 control characters (U+0000–U+001F, U+007F–U+009F: exactly what
/// <see cref="char.IsControl(char)"/> accepts), found with two vectorized range searches instead of
/// a per-character delegate through LINQ. Used on per-request and per-record paths.
/// </summary>
public static class ControlCharacters
{
    /// <summary>Whether <paramref name="text"/> holds any control character.</summary>
    public static bool In(ReadOnlySpan<char> text) =>
        text.IndexOfAnyInRange('\u0000', '\u001f') >= 0 || text.IndexOfAnyInRange('\u007f', '\u009f') >= 0;
}
