namespace Kheish.Core.Egress;

/// <summary>
/// Removes a secret an upstream echoes back from a streamed body: every occurrence of the
/// secret's bytes is overwritten with <c>*</c> (same length, so a Content-Length stays true),
/// also when it is split across chunks. Only the longest chunk tail that could still begin the
/// secret is held back, so a server-sent event ending in a newline is relayed at once.
/// </summary>
internal sealed class EchoRedactor
{
    private readonly byte[] _secret;
    private byte[] _pending = [];

    public EchoRedactor(byte[] secret)
    {
        ArgumentOutOfRangeException.ThrowIfZero(secret.Length);
        _secret = secret;
    }

    /// <summary>True once any occurrence was redacted.</summary>
    public bool Redacted { get; private set; }

    /// <summary>The bytes that can be relayed now for the next <paramref name="chunk"/> (maybe fewer, maybe more, than it).</summary>
    public ArraySegment<byte> Process(ReadOnlySpan<byte> chunk)
    {
        byte[] combined = new byte[_pending.Length + chunk.Length];
        _pending.CopyTo(combined, 0);
        chunk.CopyTo(combined.AsSpan(_pending.Length));
        return new ArraySegment<byte>(combined, 0, combined.Length - MaskAndHoldBack(combined));
    }

    /// <summary>
    /// <see cref="Process"/> for a chunk the caller gives up: masked where it lies, so the common
    /// case (nothing held back from the previous chunk) copies and allocates nothing. The answer
    /// is <paramref name="chunk"/> itself, or a prefix of it.
    /// </summary>
    public ArraySegment<byte> ProcessInPlace(ArraySegment<byte> chunk)
    {
        if (_pending.Length > 0)
        {
            return Process(chunk);
        }

        return chunk[..(chunk.Count - MaskAndHoldBack(chunk))];
    }

    /// <summary>Masks <paramref name="data"/> and keeps a copy of the tail that could still begin the secret: its length.</summary>
    private int MaskAndHoldBack(Span<byte> data)
    {
        Mask(data);
        int hold = HeldTail(data);
        _pending = data[^hold..].ToArray();
        return hold;
    }

    /// <summary>What is still held back, at the end of the body (it cannot complete the secret any more).</summary>
    public ArraySegment<byte> Flush()
    {
        byte[] rest = _pending;
        _pending = [];
        return rest;
    }

    /// <summary>Overwrites every occurrence of the secret in place.</summary>
    public bool Mask(Span<byte> data)
    {
        bool any = false;
        int from = 0;
        while (from <= data.Length - _secret.Length)
        {
            int at = data[from..].IndexOf(_secret);
            if (at < 0)
            {
                break;
            }

            data.Slice(from + at, _secret.Length).Fill((byte)'*');
            from += at + _secret.Length;
            any = true;
        }

        Redacted |= any;
        return any;
    }

    /// <summary>The length of the longest suffix of <paramref name="data"/> that is a proper prefix of the secret.</summary>
    private int HeldTail(ReadOnlySpan<byte> data)
    {
        int max = Math.Min(_secret.Length - 1, data.Length);
        for (int n = max; n > 0; n--)
        {
            if (data[^n..].SequenceEqual(_secret.AsSpan(0, n)))
            {
                return n;
            }
        }

        return 0;
    }
}
