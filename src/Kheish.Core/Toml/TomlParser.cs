using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Kheish.Core.Toml;

/// <summary>
/// A hand-written single-pass TOML 1.0.0 scanner and parser. No regular expressions and no
/// per-character allocations: runs of plain text are found with vectorised
/// <see cref="SearchValues{T}"/> searches and copied once. Nesting is bounded by
/// <see cref="TomlReader.MaxDepth"/> so hostile input gets an error, not a stack overflow.
/// </summary>
internal sealed class TomlParser
{
    // Control characters TOML forbids in comments and strings (tab is always allowed).
    private const string Controls =
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u000A\u000B\u000C\u000D\u000E\u000F" +
        "\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F\u007F";

    private static readonly SearchValues<char> CommentStops = SearchValues.Create(Controls);
    private static readonly SearchValues<char> BasicStops = SearchValues.Create(Controls + "\"\\");
    private static readonly SearchValues<char> LiteralStops = SearchValues.Create(Controls + "'");
    private static readonly SearchValues<char> MultiLineBasicStops = SearchValues.Create(Controls.Replace("\u000A", string.Empty, StringComparison.Ordinal) + "\"\\");
    private static readonly SearchValues<char> MultiLineLiteralStops = SearchValues.Create(Controls.Replace("\u000A", string.Empty, StringComparison.Ordinal) + "'");
    private static readonly SearchValues<char> BareKeyChars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
    private static readonly SearchValues<char> ScalarTokenChars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+.:");

    private static readonly object True = true;
    private static readonly object False = false;

    // Small integers (ports, counts, versions) are common: share their boxes.
    private static readonly object[] SmallIntegers = Enumerable.Range(0, 1024).Select(i => (object)(long)i).ToArray();

    private const int MaxPooledKeys = 4096;

    private readonly string _s;
    private readonly int _maxDepth;
    private readonly StringBuilder _sb = new();
    private readonly List<string> _keys = new(8);
    private readonly Dictionary<string, string> _keyPool = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _keyLookup;
    private int _p;

    public TomlParser(string source, int maxDepth)
    {
        _s = source;
        _maxDepth = maxDepth;
        _keyLookup = _keyPool.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public TomlTable Parse()
    {
        var root = new TomlTable(TomlTableKind.Header);
        TomlTable current = root;
        int currentDepth = 0;
        if (_s.Length > 0 && _s[0] == '\uFEFF')
        {
            _p = 1;
        }

        while (true)
        {
            SkipWhitespace();
            if (_p >= _s.Length)
            {
                return root;
            }

            char c = _s[_p];
            if (c == '\n')
            {
                _p++;
                continue;
            }

            if (c == '\r' || c == '#')
            {
                EndOfLine();
                continue;
            }

            if (c == '[')
            {
                current = ParseHeader(root, out currentDepth);
            }
            else
            {
                ParseKeyValue(current, currentDepth);
            }

            EndOfLine();
        }
    }

    // ---------------------------------------------------------------- structure

    private TomlTable ParseHeader(TomlTable root, out int depth)
    {
        int headerStart = _p;
        bool isArray = _p + 1 < _s.Length && _s[_p + 1] == '[';
        _p += isArray ? 2 : 1;
        SkipWhitespace();
        ParseKey();
        SkipWhitespace();
        if (!TryConsume(']') || (isArray && !TryConsume(']')))
        {
            throw Error(isArray ? "expected ']]' to close the array-of-tables header" : "expected ']' to close the table header");
        }

        depth = _keys.Count;
        if (depth > _maxDepth)
        {
            throw Error(headerStart, $"tables nested deeper than {_maxDepth} levels");
        }

        TomlTable table = root;
        int last = _keys.Count - 1;
        for (int i = 0; i < last; i++)
        {
            string key = _keys[i];
            if (!table.TryGetValue(key, out object? existing))
            {
                var created = new TomlTable(TomlTableKind.Implicit);
                table.Add(key, created);
                table = created;
            }
            else if (existing is TomlTable t && t.Kind != TomlTableKind.Inline)
            {
                table = t;
            }
            else if (existing is TomlArray { IsArrayOfTables: true } aot)
            {
                table = (TomlTable)aot[aot.Count - 1];
            }
            else
            {
                throw Error(headerStart, existing is TomlTable
                    ? "an inline table cannot be extended by a header"
                    : "a header goes through a key that already holds a value that is not a table");
            }
        }

        string name = _keys[last];
        table.TryGetValue(name, out object? target);
        if (isArray)
        {
            var element = new TomlTable(TomlTableKind.Header);
            if (target is null)
            {
                var aot = new TomlArray(isArrayOfTables: true);
                aot.Add(element);
                table.Add(name, aot);
            }
            else if (target is TomlArray { IsArrayOfTables: true } aot)
            {
                aot.Add(element);
            }
            else
            {
                throw Error(headerStart, "an array-of-tables header names a key that already holds another value");
            }

            return element;
        }

        if (target is null)
        {
            var created = new TomlTable(TomlTableKind.Header);
            table.Add(name, created);
            return created;
        }

        if (target is TomlTable { Kind: TomlTableKind.Implicit } implicitTable)
        {
            implicitTable.Kind = TomlTableKind.Header;
            return implicitTable;
        }

        throw Error(headerStart, target is TomlTable ? "table defined more than once" : "a table header names a key that already holds a value");
    }

    /// <summary>Parses <c>key = value</c> into <paramref name="table"/>, creating the tables a dotted key names.</summary>
    private void ParseKeyValue(TomlTable table, int depth)
    {
        int keyStart = _p;
        ParseKey();
        int count = _keys.Count;
        if (depth + count > _maxDepth)
        {
            throw Error(keyStart, $"tables nested deeper than {_maxDepth} levels");
        }

        for (int i = 0; i < count - 1; i++)
        {
            string key = _keys[i];
            if (!table.TryGetValue(key, out object? existing))
            {
                var created = new TomlTable(TomlTableKind.Dotted);
                table.Add(key, created);
                table = created;
            }
            else if (existing is TomlTable { Kind: TomlTableKind.Dotted or TomlTableKind.Implicit } t)
            {
                t.Kind = TomlTableKind.Dotted;
                table = t;
            }
            else
            {
                throw Error(keyStart, existing is TomlTable
                    ? "a dotted key cannot add to a table defined elsewhere"
                    : "a dotted key goes through a key that already holds a value");
            }
        }

        string name = _keys[count - 1];
        if (table.ContainsKey(name))
        {
            throw Error(keyStart, "duplicate key");
        }

        SkipWhitespace();
        if (!TryConsume('='))
        {
            throw Error("expected '=' after a key");
        }

        SkipWhitespace();
        table.Add(name, ParseValue(depth + count));
    }

    /// <summary>Reads a (possibly dotted) key into <see cref="_keys"/>.</summary>
    private void ParseKey()
    {
        _keys.Clear();
        while (true)
        {
            if (_p >= _s.Length)
            {
                throw Error("expected a key");
            }

            char c = _s[_p];
            string part;
            if (c == '"')
            {
                if (StartsWith("\"\"\""))
                {
                    throw Error("a multi-line string cannot be a key");
                }

                part = ParseBasicString();
            }
            else if (c == '\'')
            {
                if (StartsWith("'''"))
                {
                    throw Error("a multi-line string cannot be a key");
                }

                part = ParseLiteralString();
            }
            else
            {
                int end = _s.AsSpan(_p).IndexOfAnyExcept(BareKeyChars);
                int length = end < 0 ? _s.Length - _p : end;
                if (length == 0)
                {
                    throw Error("expected a key");
                }

                part = Intern(_s.AsSpan(_p, length));
                _p += length;
            }

            _keys.Add(part);
            SkipWhitespace();
            if (!TryConsume('.'))
            {
                return;
            }

            SkipWhitespace();
        }
    }

    private string Intern(ReadOnlySpan<char> key)
    {
        if (_keyLookup.TryGetValue(key, out string? pooled))
        {
            return pooled;
        }

        string s = key.ToString();
        if (_keyPool.Count < MaxPooledKeys)
        {
            _keyPool.Add(s, s);
        }

        return s;
    }

    // ---------------------------------------------------------------- values

    private object ParseValue(int depth)
    {
        if (_p >= _s.Length)
        {
            throw Error("expected a value");
        }

        char c = _s[_p];
        switch (c)
        {
            case '"':
                return StartsWith("\"\"\"") ? ParseMultiLineBasicString() : ParseBasicString();
            case '\'':
                return StartsWith("'''") ? ParseMultiLineLiteralString() : ParseLiteralString();
            case '[':
                return ParseArray(depth + 1);
            case '{':
                return ParseInlineTable(depth + 1);
            case 't':
                if (StartsWith("true"))
                {
                    _p += 4;
                    return True;
                }

                break;
            case 'f':
                if (StartsWith("false"))
                {
                    _p += 5;
                    return False;
                }

                break;
            default:
                if (char.IsAsciiDigit(c) || c is '+' or '-' or 'i' or 'n')
                {
                    return ParseScalarToken();
                }

                break;
        }

        throw Error("expected a value");
    }

    private TomlArray ParseArray(int depth)
    {
        if (depth > _maxDepth)
        {
            throw Error($"values nested deeper than {_maxDepth} levels");
        }

        _p++; // [
        var array = new TomlArray(isArrayOfTables: false);
        while (true)
        {
            SkipWhitespaceNewlinesAndComments();
            if (TryConsume(']'))
            {
                return array;
            }

            array.Add(ParseValue(depth));
            SkipWhitespaceNewlinesAndComments();
            if (TryConsume(']'))
            {
                return array;
            }

            if (!TryConsume(','))
            {
                throw Error("expected ',' or ']' in an array");
            }
        }
    }

    private TomlTable ParseInlineTable(int depth)
    {
        if (depth > _maxDepth)
        {
            throw Error($"values nested deeper than {_maxDepth} levels");
        }

        _p++; // {
        var table = new TomlTable(TomlTableKind.Dotted);
        SkipWhitespace();
        if (TryConsume('}'))
        {
            table.Kind = TomlTableKind.Inline;
            return table;
        }

        while (true)
        {
            SkipWhitespace();
            ParseKeyValue(table, depth);
            SkipWhitespace();
            if (TryConsume('}'))
            {
                table.Kind = TomlTableKind.Inline;
                return table;
            }

            if (!TryConsume(','))
            {
                throw Error("expected ',' or '}' in an inline table (inline tables are on one line, without a trailing comma)");
            }
        }
    }

    // ---------------------------------------------------------------- strings

    private string ParseBasicString()
    {
        int open = _p;
        _p++;
        ReadOnlySpan<char> rest = _s.AsSpan(_p);
        int idx = rest.IndexOfAny(BasicStops);
        if (idx >= 0 && rest[idx] == '"')
        {
            string plain = _s.Substring(_p, idx);
            _p += idx + 1;
            return plain;
        }

        StringBuilder sb = _sb.Clear();
        while (true)
        {
            if (idx < 0)
            {
                throw Error(open, "unterminated string");
            }

            sb.Append(_s, _p, idx);
            _p += idx;
            char c = _s[_p];
            if (c == '"')
            {
                _p++;
                return sb.ToString();
            }

            if (c == '\\')
            {
                AppendEscape(sb);
            }
            else
            {
                throw Error(c is '\n' or '\r' ? "a newline in a single-line string" : "a control character in a string");
            }

            idx = _s.AsSpan(_p).IndexOfAny(BasicStops);
        }
    }

    private string ParseLiteralString()
    {
        int open = _p;
        _p++;
        int idx = _s.AsSpan(_p).IndexOfAny(LiteralStops);
        if (idx < 0)
        {
            throw Error(open, "unterminated string");
        }

        if (_s[_p + idx] != '\'')
        {
            _p += idx;
            throw Error(_s[_p] is '\n' or '\r' ? "a newline in a single-line string" : "a control character in a string");
        }

        string value = _s.Substring(_p, idx);
        _p += idx + 1;
        return value;
    }

    private string ParseMultiLineBasicString()
    {
        int open = _p;
        _p += 3;
        SkipFirstNewline();
        StringBuilder sb = _sb.Clear();
        while (true)
        {
            int idx = _s.AsSpan(_p).IndexOfAny(MultiLineBasicStops);
            if (idx < 0)
            {
                throw Error(open, "unterminated multi-line string");
            }

            sb.Append(_s, _p, idx);
            _p += idx;
            char c = _s[_p];
            if (c == '"')
            {
                if (CloseMultiLine(sb, '"'))
                {
                    return sb.ToString();
                }
            }
            else if (c == '\\')
            {
                if (!SkipLineEndingBackslash())
                {
                    AppendEscape(sb);
                }
            }
            else if (c == '\r' && _p + 1 < _s.Length && _s[_p + 1] == '\n')
            {
                sb.Append('\n');
                _p += 2;
            }
            else
            {
                throw Error("a control character in a string");
            }
        }
    }

    private string ParseMultiLineLiteralString()
    {
        int open = _p;
        _p += 3;
        SkipFirstNewline();
        StringBuilder sb = _sb.Clear();
        while (true)
        {
            int idx = _s.AsSpan(_p).IndexOfAny(MultiLineLiteralStops);
            if (idx < 0)
            {
                throw Error(open, "unterminated multi-line string");
            }

            sb.Append(_s, _p, idx);
            _p += idx;
            char c = _s[_p];
            if (c == '\'')
            {
                if (CloseMultiLine(sb, '\''))
                {
                    return sb.ToString();
                }
            }
            else if (c == '\r' && _p + 1 < _s.Length && _s[_p + 1] == '\n')
            {
                sb.Append('\n');
                _p += 2;
            }
            else
            {
                throw Error("a control character in a string");
            }
        }
    }

    private void SkipFirstNewline()
    {
        if (TryConsume('\n'))
        {
            return;
        }

        if (StartsWith("\r\n"))
        {
            _p += 2;
        }
    }

    /// <summary>
    /// At a run of quotes inside a multi-line string: fewer than three are content; three to
    /// five close the string, the extra one or two being content; six or more are an error.
    /// </summary>
    private bool CloseMultiLine(StringBuilder sb, char quote)
    {
        int n = 0;
        while (_p + n < _s.Length && _s[_p + n] == quote)
        {
            n++;
        }

        if (n < 3)
        {
            sb.Append(quote, n);
            _p += n;
            return false;
        }

        if (n > 5)
        {
            throw Error(_p + 5, "too many quotes at the end of a multi-line string");
        }

        sb.Append(quote, n - 3);
        _p += n;
        return true;
    }

    /// <summary>A backslash that ends a line trims it and all whitespace and newlines after it.</summary>
    private bool SkipLineEndingBackslash()
    {
        int i = _p + 1;
        while (i < _s.Length && _s[i] is ' ' or '\t')
        {
            i++;
        }

        if (i < _s.Length && (_s[i] == '\n' || (_s[i] == '\r' && i + 1 < _s.Length && _s[i + 1] == '\n')))
        {
            while (i < _s.Length)
            {
                char c = _s[i];
                if (c is ' ' or '\t' or '\n')
                {
                    i++;
                }
                else if (c == '\r' && i + 1 < _s.Length && _s[i + 1] == '\n')
                {
                    i += 2;
                }
                else
                {
                    break;
                }
            }

            _p = i;
            return true;
        }

        return false;
    }

    private void AppendEscape(StringBuilder sb)
    {
        int start = _p;
        _p++; // backslash
        if (_p >= _s.Length)
        {
            throw Error(start, "unterminated escape sequence");
        }

        char c = _s[_p++];
        switch (c)
        {
            case 'b': sb.Append('\b'); return;
            case 't': sb.Append('\t'); return;
            case 'n': sb.Append('\n'); return;
            case 'f': sb.Append('\f'); return;
            case 'r': sb.Append('\r'); return;
            case '"': sb.Append('"'); return;
            case '\\': sb.Append('\\'); return;
            case 'u':
            case 'U':
                int digits = c == 'u' ? 4 : 8;
                if (_p + digits > _s.Length
                    || !uint.TryParse(_s.AsSpan(_p, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint scalar)
                    || !Rune.IsValid(scalar))
                {
                    throw Error(start, "invalid unicode escape (needs exactly 4 or 8 hex digits naming a Unicode scalar value)");
                }

                _p += digits;
                Rune rune = new(scalar);
                if (rune.IsBmp)
                {
                    sb.Append((char)rune.Value);
                }
                else
                {
                    Span<char> pair = stackalloc char[2];
                    rune.EncodeToUtf16(pair);
                    sb.Append(pair);
                }

                return;
            default:
                throw Error(start, "invalid escape sequence");
        }
    }

    // ---------------------------------------------------------------- numbers and dates

    private object ParseScalarToken()
    {
        int start = _p;
        int end = IndexOfAnyExceptFrom(_p, ScalarTokenChars);

        // "1979-05-27 07:32:00": a space may separate the date and the time.
        if (end - start == 10 && end + 3 < _s.Length && _s[end] == ' '
            && char.IsAsciiDigit(_s[end + 1]) && char.IsAsciiDigit(_s[end + 2]) && _s[end + 3] == ':'
            && LooksLikeDate(_s.AsSpan(start, 10)))
        {
            end = IndexOfAnyExceptFrom(end + 1, ScalarTokenChars);
        }

        ReadOnlySpan<char> token = _s.AsSpan(start, end - start);
        _p = end;
        if (token.Length >= 10 && LooksLikeDate(token))
        {
            return ParseDateTime(token, start);
        }

        if (token.Length >= 3 && char.IsAsciiDigit(token[0]) && char.IsAsciiDigit(token[1]) && token[2] == ':')
        {
            if (!TryParseTime(token, 0, out TomlLocalTime time, out int next) || next != token.Length)
            {
                throw Error(start, "invalid local time (expected HH:MM:SS with optional fraction)");
            }

            return time;
        }

        return ParseNumber(token, start);
    }

    private int IndexOfAnyExceptFrom(int from, SearchValues<char> values)
    {
        int idx = _s.AsSpan(from).IndexOfAnyExcept(values);
        return idx < 0 ? _s.Length : from + idx;
    }

    private static bool LooksLikeDate(ReadOnlySpan<char> t) =>
        char.IsAsciiDigit(t[0]) && char.IsAsciiDigit(t[1]) && char.IsAsciiDigit(t[2]) && char.IsAsciiDigit(t[3]) && t[4] == '-';

    private object ParseDateTime(ReadOnlySpan<char> t, int start)
    {
        if (!(t[7] == '-' && TwoDigits(t, 5, out int month) && TwoDigits(t, 8, out int day)))
        {
            throw Error(start, "invalid date (expected YYYY-MM-DD)");
        }

        int year = ((t[0] - '0') * 1000) + ((t[1] - '0') * 100) + ((t[2] - '0') * 10) + (t[3] - '0');
        if (!TomlLocalDate.IsValid(year, month, day))
        {
            throw Error(start, "date out of range");
        }

        var date = new TomlLocalDate(year, month, day);
        if (t.Length == 10)
        {
            return date;
        }

        if (t.Length < 11 || t[10] is not ('T' or 't' or ' ') || !TryParseTime(t, 11, out TomlLocalTime time, out int i))
        {
            throw Error(start, "invalid date-time (expected YYYY-MM-DDTHH:MM:SS with optional fraction and offset)");
        }

        if (i == t.Length)
        {
            return new TomlLocalDateTime(date, time);
        }

        if (t[i] is 'Z' or 'z' && i + 1 == t.Length)
        {
            return new TomlOffsetDateTime(date, time, 0);
        }

        if (t[i] is '+' or '-' && i + 6 == t.Length && TwoDigits(t, i + 1, out int oh) && t[i + 3] == ':' && TwoDigits(t, i + 4, out int om))
        {
            if (oh > 23 || om > 59)
            {
                throw Error(start, "time offset out of range");
            }

            int offset = (oh * 60) + om;
            return new TomlOffsetDateTime(date, time, t[i] == '-' ? -offset : offset);
        }

        throw Error(start, "invalid date-time offset (expected Z or +HH:MM)");
    }

    private bool TryParseTime(ReadOnlySpan<char> t, int i, out TomlLocalTime time, out int next)
    {
        time = default;
        next = i;
        if (t.Length < i + 8 || !TwoDigits(t, i, out int h) || t[i + 2] != ':' || !TwoDigits(t, i + 3, out int m)
            || t[i + 5] != ':' || !TwoDigits(t, i + 6, out int s))
        {
            return false;
        }

        if (h > 23 || m > 59 || s > 60)
        {
            throw Error(_p - t.Length + i, "time out of range");
        }

        i += 8;
        int nanos = 0;
        if (i < t.Length && t[i] == '.')
        {
            i++;
            int digits = 0;
            while (i < t.Length && char.IsAsciiDigit(t[i]))
            {
                if (digits < 9)
                {
                    nanos = (nanos * 10) + (t[i] - '0');
                }

                digits++;
                i++;
            }

            if (digits == 0)
            {
                return false;
            }

            for (int d = digits; d < 9; d++)
            {
                nanos *= 10;
            }
        }

        time = new TomlLocalTime(h, m, s, nanos);
        next = i;
        return true;
    }

    private static bool TwoDigits(ReadOnlySpan<char> t, int i, out int value)
    {
        if (i + 1 < t.Length && char.IsAsciiDigit(t[i]) && char.IsAsciiDigit(t[i + 1]))
        {
            value = ((t[i] - '0') * 10) + (t[i + 1] - '0');
            return true;
        }

        value = 0;
        return false;
    }

    private object ParseNumber(ReadOnlySpan<char> t, int start)
    {
        bool negative = false;
        bool signed = false;
        int i = 0;
        if (t.Length > 0 && t[0] is '+' or '-')
        {
            signed = true;
            negative = t[0] == '-';
            i = 1;
        }

        ReadOnlySpan<char> body = t[i..];
        if (body.SequenceEqual("inf"))
        {
            return negative ? double.NegativeInfinity : double.PositiveInfinity;
        }

        if (body.SequenceEqual("nan"))
        {
            return double.NaN;
        }

        if (body.Length >= 2 && body[0] == '0' && body[1] is 'x' or 'o' or 'b')
        {
            if (signed)
            {
                throw Error(start, "a hexadecimal, octal or binary integer cannot have a sign");
            }

            return Box(ParseRadixInteger(body[2..], body[1] switch { 'x' => 16, 'o' => 8, _ => 2 }, start));
        }

        int j = SkipDigits(body, 0, start);
        if (j > 1 && body[0] == '0')
        {
            throw Error(start, "leading zeros are not allowed");
        }

        bool isFloat = false;
        if (j < body.Length && body[j] == '.')
        {
            isFloat = true;
            j = SkipDigits(body, j + 1, start);
        }

        if (j < body.Length && body[j] is 'e' or 'E')
        {
            isFloat = true;
            j++;
            if (j < body.Length && body[j] is '+' or '-')
            {
                j++;
            }

            j = SkipDigits(body, j, start);
        }

        if (j != body.Length)
        {
            throw Error(start, "invalid number");
        }

        return isFloat ? ParseFloat(t) : Box(ParseDecimalInteger(body, negative, start));
    }

    /// <summary>Digits with single underscores between them; returns the index after them.</summary>
    private int SkipDigits(ReadOnlySpan<char> t, int i, int start)
    {
        if (i >= t.Length || !char.IsAsciiDigit(t[i]))
        {
            throw Error(start, "invalid number (expected a digit)");
        }

        i++;
        while (i < t.Length)
        {
            char c = t[i];
            if (char.IsAsciiDigit(c))
            {
                i++;
            }
            else if (c == '_')
            {
                if (i + 1 >= t.Length || !char.IsAsciiDigit(t[i + 1]))
                {
                    throw Error(start, "an underscore in a number must sit between two digits");
                }

                i += 2;
            }
            else
            {
                break;
            }
        }

        return i;
    }

    private long ParseDecimalInteger(ReadOnlySpan<char> digits, bool negative, int start)
    {
        ulong limit = negative ? 9223372036854775808UL : long.MaxValue;
        ulong value = 0;
        foreach (char c in digits)
        {
            if (c == '_')
            {
                continue;
            }

            ulong d = (ulong)(c - '0');
            if (value > (limit - d) / 10)
            {
                throw Error(start, "integer out of the 64-bit range");
            }

            value = (value * 10) + d;
        }

        return negative ? (long)(0UL - value) : (long)value;
    }

    private long ParseRadixInteger(ReadOnlySpan<char> t, int radix, int start)
    {
        if (t.Length == 0)
        {
            throw Error(start, "invalid number (expected a digit)");
        }

        ulong value = 0;
        bool lastWasDigit = false;
        foreach (char c in t)
        {
            if (c == '_')
            {
                if (!lastWasDigit)
                {
                    throw Error(start, "an underscore in a number must sit between two digits");
                }

                lastWasDigit = false;
                continue;
            }

            int d = HexValue(c);
            if (d < 0 || d >= radix)
            {
                throw Error(start, "invalid digit for the integer's base");
            }

            if (value > (long.MaxValue - (ulong)d) / (ulong)radix)
            {
                throw Error(start, "integer out of the 64-bit range");
            }

            value = (value * (ulong)radix) + (ulong)d;
            lastWasDigit = true;
        }

        if (!lastWasDigit)
        {
            throw Error(start, "an underscore in a number must sit between two digits");
        }

        return (long)value;
    }

    private static object Box(long value) => (ulong)value < (ulong)SmallIntegers.Length ? SmallIntegers[value] : value;

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    private static double ParseFloat(ReadOnlySpan<char> t)
    {
        char[]? rented = null;
        Span<char> buffer = t.Length <= 128 ? stackalloc char[128] : (rented = ArrayPool<char>.Shared.Rent(t.Length));
        int n = 0;
        foreach (char c in t)
        {
            if (c != '_')
            {
                buffer[n++] = c;
            }
        }

        double value = double.Parse(buffer[..n], NumberStyles.Float, CultureInfo.InvariantCulture);
        if (rented is not null)
        {
            ArrayPool<char>.Shared.Return(rented);
        }

        return value;
    }

    // ---------------------------------------------------------------- whitespace, comments, newlines

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SkipWhitespace()
    {
        while (_p < _s.Length && _s[_p] is ' ' or '\t')
        {
            _p++;
        }
    }

    private void SkipComment()
    {
        _p++; // #
        int idx = _s.AsSpan(_p).IndexOfAny(CommentStops);
        if (idx < 0)
        {
            _p = _s.Length;
            return;
        }

        _p += idx;
        char c = _s[_p];
        if (c == '\n' || (c == '\r' && _p + 1 < _s.Length && _s[_p + 1] == '\n'))
        {
            return;
        }

        throw Error("a control character in a comment");
    }

    /// <summary>After a statement: optional whitespace and comment, then a newline or the end.</summary>
    private void EndOfLine()
    {
        SkipWhitespace();
        if (_p < _s.Length && _s[_p] == '#')
        {
            SkipComment();
        }

        if (_p >= _s.Length)
        {
            return;
        }

        char c = _s[_p];
        if (c == '\n')
        {
            _p++;
        }
        else if (c == '\r' && _p + 1 < _s.Length && _s[_p + 1] == '\n')
        {
            _p += 2;
        }
        else
        {
            throw Error(c == '\r' ? "a carriage return must be followed by a line feed" : "expected the end of the line");
        }
    }

    private void SkipWhitespaceNewlinesAndComments()
    {
        while (_p < _s.Length)
        {
            char c = _s[_p];
            if (c is ' ' or '\t' or '\n')
            {
                _p++;
            }
            else if (c == '\r')
            {
                if (_p + 1 < _s.Length && _s[_p + 1] == '\n')
                {
                    _p += 2;
                }
                else
                {
                    throw Error("a carriage return must be followed by a line feed");
                }
            }
            else if (c == '#')
            {
                SkipComment();
            }
            else
            {
                return;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryConsume(char c)
    {
        if (_p < _s.Length && _s[_p] == c)
        {
            _p++;
            return true;
        }

        return false;
    }

    private bool StartsWith(string literal) => _s.AsSpan(_p).StartsWith(literal, StringComparison.Ordinal);

    // ---------------------------------------------------------------- errors

    private TomlException Error(string reason) => Error(_p, reason);

    private TomlException Error(int position, string reason)
    {
        (int line, int column) = LineAndColumn(_s, Math.Min(position, _s.Length));
        return new TomlException(new TomlError(line, column, reason));
    }

    /// <summary>1-based line and column (in characters) of a position; computed only on error.</summary>
    internal static (int Line, int Column) LineAndColumn(ReadOnlySpan<char> text, int position)
    {
        ReadOnlySpan<char> before = text[..position];
        int line = before.Count('\n') + 1;
        int lineStart = before.LastIndexOf('\n') + 1;
        int column = 1;
        foreach (char c in before[lineStart..])
        {
            // A byte-order mark is not a column; a surrogate pair is one.
            if (!char.IsLowSurrogate(c) && c != '\uFEFF')
            {
                column++;
            }
        }

        return (line, column);
    }
}
