using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace Kheish.Core.Audit;

/// <summary>
/// A growable UTF-8 buffer the ledger encodes its canonical bytes into: strings are transcoded
/// straight from UTF-16 with the RFC 8785 escapes (<c>\"</c>, <c>\\</c>, <c>\b \t \n \f \r</c>,
/// other controls as lowercase <c>\u00xx</c>), no intermediate string. A writer reuses one
/// buffer for a whole batch, so a record costs no allocation here.
/// </summary>
internal sealed class CanonicalBuffer(int capacity = 4096)
{
    private byte[] _bytes = new byte[capacity];

    /// <summary>Bytes written so far; may be set back to drop a suffix.</summary>
    public int Length { get; set; }

    public int Capacity => _bytes.Length;

    public ReadOnlySpan<byte> Written => _bytes.AsSpan(0, Length);

    public Span<byte> WrittenSpan => _bytes.AsSpan(0, Length);

    public void Clear() => Length = 0;

    public void Raw(ReadOnlySpan<byte> utf8)
    {
        utf8.CopyTo(Reserve(utf8.Length));
        Length += utf8.Length;
    }

    /// <summary>Appends ASCII text (domain prefixes); anything else is a programming error.</summary>
    public void Ascii(string text)
    {
        if (System.Text.Ascii.FromUtf16(text, Reserve(text.Length), out int written) != OperationStatus.Done)
        {
            throw new ArgumentException("not ASCII", nameof(text));
        }

        Length += written;
    }

    /// <summary>Leaves <paramref name="count"/> bytes to fill in later; returns their offset.</summary>
    public int Skip(int count)
    {
        Reserve(count).Slice(0, count).Fill((byte)'0');
        int at = Length;
        Length += count;
        return at;
    }

    public void Hex(ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<byte> digits = "0123456789abcdef"u8;
        Span<byte> span = Reserve(data.Length * 2);
        for (int i = 0; i < data.Length; i++)
        {
            span[2 * i] = digits[data[i] >> 4];
            span[(2 * i) + 1] = digits[data[i] & 0xF];
        }

        Length += data.Length * 2;
    }

    public void Number(long value)
    {
        Span<byte> span = Reserve(20);
        if (!value.TryFormat(span, out int written, default, CultureInfo.InvariantCulture))
        {
            throw new InvalidOperationException("a long needs at most 20 bytes");
        }

        Length += written;
    }

    /// <summary>
    /// A quoted, escaped string. Throws <see cref="EncoderFallbackException"/> on a lone surrogate:
    /// such a value has no canonical form.
    /// </summary>
    public void Quoted(string value)
    {
        Raw("\""u8);
        int run = 0;
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (c >= 0x20 && c != '"' && c != '\\')
            {
                continue;
            }

            // Runs end only at ASCII characters, so a surrogate pair is never split.
            Transcode(value.AsSpan(run, i - run));
            run = i + 1;
            switch (c)
            {
                case '"': Raw("\\\""u8); break;
                case '\\': Raw("\\\\"u8); break;
                case '\b': Raw("\\b"u8); break;
                case '\t': Raw("\\t"u8); break;
                case '\n': Raw("\\n"u8); break;
                case '\f': Raw("\\f"u8); break;
                case '\r': Raw("\\r"u8); break;
                default:
                    Raw("\\u00"u8);
                    Hex([(byte)c]);
                    break;
            }
        }

        Transcode(value.AsSpan(run));
        Raw("\""u8);
    }

    private void Transcode(ReadOnlySpan<char> chars)
    {
        if (chars.IsEmpty)
        {
            return;
        }

        Span<byte> span = Reserve(chars.Length * 3);
        OperationStatus status = Utf8.FromUtf16(chars, span, out _, out int written, replaceInvalidSequences: false, isFinalBlock: true);
        if (status != OperationStatus.Done)
        {
            throw new EncoderFallbackException("a lone surrogate has no canonical UTF-8 form");
        }

        Length += written;
    }

    private Span<byte> Reserve(int count)
    {
        if (_bytes.Length - Length < count)
        {
            Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, Length + count));
        }

        return _bytes.AsSpan(Length);
    }
}
