namespace Kheish.Core.Audit;

/// <summary>
/// Reads a bucket file backwards from its end, line by line, so opening a bucket costs its last
/// lines, not its size. As with <see cref="RecordFileReader"/>, only newline-terminated lines are
/// records: bytes after the last newline are a torn tail (a crash in the middle of a write that
/// was therefore never acknowledged).
/// </summary>
internal sealed class RecordFileTail : IDisposable
{
    private const int Chunk = 4096;

    private readonly FileStream _stream;
    private readonly byte[] _chunk = new byte[Chunk];

    /// <summary>Offset of the newline that ends the next line <see cref="PreviousLine"/> returns; -1 when none is left.</summary>
    private long _end;

    private RecordFileTail(FileStream stream)
    {
        _stream = stream;
        long length = stream.Length;
        long lastNewline = LastNewlineBefore(length);
        ValidLength = lastNewline + 1;
        TornTailBytes = length - ValidLength;
        if (TornTailBytes > RecordFileReader.MaxLineBytes)
        {
            throw new InvalidDataException($"a line longer than {RecordFileReader.MaxLineBytes} bytes");
        }

        _end = lastNewline;
    }

    /// <summary>Bytes of complete lines: the file length without its torn tail.</summary>
    public long ValidLength { get; }

    /// <summary>
    /// Bytes after the last newline: a torn line and, after a crash, the zeroed reserve an open
    /// bucket keeps after its records. The open cuts them all.
    /// </summary>
    public long TornTailBytes { get; }

    /// <summary>Bytes read from the file so far (what opening a bucket costs).</summary>
    public long BytesRead { get; private set; }

    public static RecordFileTail Open(string path) =>
        new(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.RandomAccess));

    /// <summary>The complete line before the last one returned (the last line first), without its newline; null at the start.</summary>
    public byte[]? PreviousLine()
    {
        if (_end < 0)
        {
            return null;
        }

        long start = LastNewlineBefore(_end) + 1;
        byte[] line = new byte[_end - start];
        Read(start, line);
        _end = start - 1;
        return line;
    }

    public void Dispose() => _stream.Dispose();

    /// <summary>The offset of the last newline before <paramref name="end"/>, or -1.</summary>
    private long LastNewlineBefore(long end)
    {
        long chunkEnd = end;
        while (chunkEnd > 0)
        {
            if (end - chunkEnd > RecordFileReader.MaxLineBytes)
            {
                throw new InvalidDataException($"a line longer than {RecordFileReader.MaxLineBytes} bytes");
            }

            long chunkStart = Math.Max(0, chunkEnd - Chunk);
            Span<byte> bytes = _chunk.AsSpan(0, (int)(chunkEnd - chunkStart));
            Read(chunkStart, bytes);
            int at = bytes.LastIndexOf((byte)'\n');
            if (at >= 0)
            {
                return chunkStart + at;
            }

            chunkEnd = chunkStart;
        }

        return -1;
    }

    private void Read(long offset, Span<byte> into)
    {
        int done = 0;
        while (done < into.Length)
        {
            int n = RandomAccess.Read(_stream.SafeFileHandle, into[done..], offset + done);
            if (n == 0)
            {
                throw new InvalidDataException("the bucket file shrank while it was read");
            }

            done += n;
        }

        BytesRead += into.Length;
    }
}
