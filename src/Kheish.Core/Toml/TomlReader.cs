using System.Text;
using Kheish.Core.Errors;

namespace Kheish.Core.Toml;

/// <summary>Reads TOML 1.0.0 documents into a <see cref="TomlTable"/>.</summary>
internal static class TomlReader
{
    /// <summary>
    /// Deepest nesting of tables and values accepted (toml-test suggests 128 or 256); deeper
    /// input is an error, so hostile documents cannot exhaust the stack.
    /// </summary>
    public const int MaxDepth = 128;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Parses a document; the error (if any) names line, column and reason, never the text.</summary>
    public static Result<TomlTable> Read(string text, string? source = null) =>
        TryParse(text, out TomlTable? table, out TomlError? error) ? table : error.ToKheishError(source);

    /// <summary>Parses UTF-8 bytes; invalid UTF-8 is an error like any other.</summary>
    public static Result<TomlTable> Read(ReadOnlySpan<byte> utf8, string? source = null) =>
        TryParse(utf8, out TomlTable? table, out TomlError? error) ? table : error.ToKheishError(source);

    public static bool TryParse(ReadOnlySpan<byte> utf8, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TomlTable? table, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out TomlError? error)
    {
        string text;
        try
        {
            text = StrictUtf8.GetString(utf8);
        }
        catch (DecoderFallbackException ex)
        {
            table = null;
            error = InvalidUtf8(utf8, ex.Index);
            return false;
        }

        return TryParse(text, out table, out error);
    }

    public static bool TryParse(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TomlTable? table, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out TomlError? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        int bad = FindLoneSurrogate(text);
        if (bad >= 0)
        {
            (int line, int column) = TomlParser.LineAndColumn(text, bad);
            table = null;
            error = new TomlError(line, column, "invalid Unicode (a lone surrogate)");
            return false;
        }

        try
        {
            table = new TomlParser(text, MaxDepth).Parse();
            error = null;
            return true;
        }
        catch (TomlException ex)
        {
            table = null;
            error = ex.Error;
            return false;
        }
    }

    /// <summary>Parses or throws <see cref="TomlException"/>.</summary>
    public static TomlTable Parse(string text) =>
        TryParse(text, out TomlTable? table, out TomlError? error) ? table : throw new TomlException(error);

    private static int FindLoneSurrogate(string text)
    {
        int i = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0)
        {
            return -1;
        }

        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                return i;
            }
        }

        return -1;
    }

    private static TomlError InvalidUtf8(ReadOnlySpan<byte> utf8, int index)
    {
        index = Math.Clamp(index, 0, utf8.Length);
        ReadOnlySpan<byte> before = utf8[..index];
        int line = before.Count((byte)'\n') + 1;
        int lineStart = before.LastIndexOf((byte)'\n') + 1;
        int column = 1;
        foreach (byte b in before[lineStart..])
        {
            if ((b & 0xC0) != 0x80)
            {
                column++;
            }
        }

        return new TomlError(line, column, "invalid UTF-8");
    }
}
