namespace Kheish.Core.Limits;

/// <summary>
/// Reads provider token usage out of a response while it is relayed, byte by byte, without
/// buffering it: a small JSON tokenizer that tracks strings, nesting and the members of every
/// object under a <c>"usage"</c> key (OpenAI chat and responses, Anthropic messages; any depth,
/// so <c>response.usage</c> and <c>message.usage</c> count). Input = <c>prompt_tokens</c> or
/// <c>input_tokens</c> (+ Anthropic's <c>cache_creation_input_tokens</c> and
/// <c>cache_read_input_tokens</c>); output = <c>completion_tokens</c> or <c>output_tokens</c>.
/// Streams report usage more than once (Anthropic: <c>message_start</c>, then cumulative
/// <c>message_delta</c>); the largest value seen per side is kept, so no later event can lower
/// a count. Text inside JSON strings (model output, tool arguments) is never read as structure.
/// In event-stream mode a blank line resets the tokenizer, so one malformed event cannot
/// desynchronise the rest.
/// </summary>
internal sealed class UsageScanner(bool eventStream)
{
    private const int MaxName = 32;
    private const long Cap = long.MaxValue / 8;

    private readonly byte[] _name = new byte[MaxName];
    private int _nameLength;
    private bool _nameOverflow;
    private bool _inString;
    private bool _escape;
    private bool _hasString;
    private Field _pending = Field.None;
    private bool _pendingUsage;
    private int _depth;
    private int _usageDepth = -1;
    private long _number = -1;
    private bool _numberBad;
    private bool _lastWasNewline;
    private long _baseInput;
    private long _cacheCreate;
    private long _cacheRead;
    private long _output;

    private enum Field
    {
        None,
        Other,
        Input,
        CacheCreate,
        CacheRead,
        Output,
    }

    /// <summary>The usage seen so far; null when the response carried none.</summary>
    public TokenUsage? Usage { get; private set; }

    public void Feed(ReadOnlySpan<byte> bytes)
    {
        int i = 0;
        while (i < bytes.Length)
        {
            if (_inString)
            {
                i = ScanString(bytes, i);
                continue;
            }

            Structural(bytes[i]);
            i++;
        }
    }

    private int ScanString(ReadOnlySpan<byte> bytes, int i)
    {
        while (i < bytes.Length)
        {
            byte b = bytes[i];
            if (_escape)
            {
                _escape = false;
                Capture(b);
                i++;
                continue;
            }

            if (!_nameOverflow && _nameLength < MaxName)
            {
                if (b == (byte)'"')
                {
                    EndString();
                    return i + 1;
                }

                if (b == (byte)'\\')
                {
                    _escape = true;
                    _nameOverflow = true;
                    i++;
                    continue;
                }

                if (b == (byte)'\n')
                {
                    // A raw newline cannot be inside a JSON string: resynchronise.
                    _inString = false;
                    return i;
                }

                Capture(b);
                i++;
                continue;
            }

            // Long strings (model text): skip to the next quote, backslash or newline at once.
            int at = bytes[i..].IndexOfAny((byte)'"', (byte)'\\', (byte)'\n');
            if (at < 0)
            {
                return bytes.Length;
            }

            i += at;
            _nameOverflow = true;
            byte c = bytes[i];
            if (c == (byte)'"')
            {
                EndString();
                return i + 1;
            }

            if (c == (byte)'\\')
            {
                _escape = true;
                i++;
                continue;
            }

            _inString = false;
            return i;
        }

        return i;
    }

    private void Capture(byte b)
    {
        if (_nameLength < MaxName)
        {
            _name[_nameLength++] = b;
        }
        else
        {
            _nameOverflow = true;
        }
    }

    private void EndString()
    {
        _inString = false;
        _hasString = true;
    }

    private void Structural(byte b)
    {
        if (b is >= (byte)'0' and <= (byte)'9')
        {
            if (_number < 0)
            {
                _number = 0;
            }

            _number = Math.Min(Cap, (_number * 10) + (b - '0'));
            _lastWasNewline = false;
            return;
        }

        if (_number >= 0 && b is (byte)'.' or (byte)'e' or (byte)'E' or (byte)'+' or (byte)'-')
        {
            _numberBad = true;
            return;
        }

        EndNumber();
        switch (b)
        {
            case (byte)'"':
                _inString = true;
                _escape = false;
                _hasString = false;
                _nameLength = 0;
                _nameOverflow = false;
                break;
            case (byte)':':
                if (_hasString)
                {
                    ReadOnlySpan<byte> name = _nameOverflow ? default : _name.AsSpan(0, _nameLength);
                    _pendingUsage = _usageDepth < 0 && name.SequenceEqual("usage"u8);
                    _pending = _usageDepth == _depth ? Classify(name) : Field.Other;
                }

                _hasString = false;
                break;
            case (byte)'{':
                _depth++;
                if (_pendingUsage)
                {
                    _usageDepth = _depth;
                    _baseInput = _cacheCreate = _cacheRead = _output = 0;
                }

                Clear();
                break;
            case (byte)'[':
                _depth++;
                Clear();
                break;
            case (byte)'}':
                if (_depth == _usageDepth)
                {
                    Merge();
                    _usageDepth = -1;
                }

                _depth = Math.Max(0, _depth - 1);
                Clear();
                break;
            case (byte)']':
                _depth = Math.Max(0, _depth - 1);
                Clear();
                break;
            case (byte)',':
                Clear();
                break;
            case (byte)'\n':
                if (eventStream && _lastWasNewline)
                {
                    Reset();
                }

                _lastWasNewline = true;
                return;
            case (byte)'\r':
                return;
            default:
                break;
        }

        _lastWasNewline = false;
    }

    private void EndNumber()
    {
        if (_number < 0)
        {
            return;
        }

        if (!_numberBad && _depth == _usageDepth)
        {
            switch (_pending)
            {
                case Field.Input:
                    _baseInput = Math.Max(_baseInput, _number);
                    break;
                case Field.CacheCreate:
                    _cacheCreate = _number;
                    break;
                case Field.CacheRead:
                    _cacheRead = _number;
                    break;
                case Field.Output:
                    _output = Math.Max(_output, _number);
                    break;
                default:
                    break;
            }
        }

        _number = -1;
        _numberBad = false;
        _pending = Field.None;
    }

    private void Merge()
    {
        long input = Math.Min(Cap, _baseInput + _cacheCreate + _cacheRead);
        TokenUsage current = Usage ?? default;
        Usage = new TokenUsage(Math.Max(current.Input, input), Math.Max(current.Output, _output));
    }

    private void Clear()
    {
        _pending = Field.None;
        _pendingUsage = false;
        _hasString = false;
    }

    private void Reset()
    {
        Clear();
        _depth = 0;
        _usageDepth = -1;
        _number = -1;
        _numberBad = false;
        _inString = false;
        _escape = false;
    }

    private static Field Classify(ReadOnlySpan<byte> name)
    {
        if (name.SequenceEqual("prompt_tokens"u8) || name.SequenceEqual("input_tokens"u8))
        {
            return Field.Input;
        }

        if (name.SequenceEqual("completion_tokens"u8) || name.SequenceEqual("output_tokens"u8))
        {
            return Field.Output;
        }

        if (name.SequenceEqual("cache_creation_input_tokens"u8))
        {
            return Field.CacheCreate;
        }

        return name.SequenceEqual("cache_read_input_tokens"u8) ? Field.CacheRead : Field.Other;
    }
}
