namespace Kheish.Core.Audit;

/// <summary>
/// Reads a bucket file line by line. Only newline-terminated lines are records: bytes after the
/// last newline are a torn tail, left by a crash in the middle of a write that was therefore
/// never acknowledged (appends are acknowledged only after the whole batch is written and synced).
/// A trailing run of zero bytes is the reserve an open bucket keeps after its records (no record
/// line holds a zero byte), neither a record nor a torn tail.
/// </summary>
internal sealed class RecordFileReader : IDisposable
{
    public const int MaxLineBytes = 1 << 20;

    private readonly FileStream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private bool _eof;
    private bool _done;

    private RecordFileReader(FileStream stream) => _stream = stream;

    /// <summary>Bytes consumed by complete lines so far.</summary>
    public long ValidLength { get; private set; }

    /// <summary>After the last line was read: bytes after the last newline, without the zeroed reserve.</summary>
    public long TornTailBytes { get; private set; }

    public static RecordFileReader Open(string path) =>
        new(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan));

    /// <summary>The next complete line without its newline, or null at the end.</summary>
    public byte[]? ReadLine()
    {
        if (_done)
        {
            return null;
        }

        List<byte[]>? parts = null;
        int partsLength = 0;
        while (true)
        {
            int newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                byte[] line = Concat(parts, partsLength, _buffer.AsSpan(_start, newline - _start));
                ValidLength += line.Length + 1;
                _start = newline + 1;
                return line;
            }

            if (_end > _start)
            {
                parts ??= [];
                parts.Add(_buffer.AsSpan(_start, _end - _start).ToArray());
                partsLength += _end - _start;
                if (partsLength > MaxLineBytes)
                {
                    throw new InvalidDataException($"a line longer than {MaxLineBytes} bytes");
                }
            }

            _start = 0;
            _end = 0;
            if (_eof)
            {
                TornTailBytes = partsLength - TrailingZeros(parts);
                _done = true;
                return null;
            }

            int read = _stream.Read(_buffer, 0, _buffer.Length);
            if (read == 0)
            {
                _eof = true;
                continue;
            }

            _end = read;
        }
    }

    public void Dispose() => _stream.Dispose();

    private static long TrailingZeros(List<byte[]>? parts)
    {
        long zeros = 0;
        for (int i = (parts?.Count ?? 0) - 1; i >= 0; i--)
        {
            ReadOnlySpan<byte> part = parts![i];
            int last = part.LastIndexOfAnyExcept((byte)0);
            zeros += part.Length - 1 - last;
            if (last >= 0)
            {
                break;
            }
        }

        return zeros;
    }

    private static byte[] Concat(List<byte[]>? parts, int partsLength, ReadOnlySpan<byte> last)
    {
        if (parts is null)
        {
            return last.ToArray();
        }

        byte[] line = new byte[partsLength + last.Length];
        int offset = 0;
        foreach (byte[] p in parts)
        {
            p.CopyTo(line, offset);
            offset += p.Length;
        }

        last.CopyTo(line.AsSpan(offset));
        return line;
    }
}
