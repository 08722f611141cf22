using System.Text;
using System.Text.Json;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Broker;

/// <summary>
/// The broker's files: a snapshot (<c>global-slots.broker-state.json</c>, replaced
/// atomically) and a journal beside it (<c>.journal</c>, one codec-encoded JSON record per
/// line, appended and fsynced). A revocation costs one append + fsync whatever the number of
/// live leases; a compaction writes the snapshot and empties the journal.
/// Not thread-safe: the broker calls it under its persistence lock.
/// </summary>
internal sealed class BrokerStateStore : IDisposable
{
    private const string WrappedPrefix = "b64:";

    private readonly string _snapshotPath;
    private readonly string _journalPath;
    private readonly IStateFileCodec _codec;
    private FileStream? _journal;
    private long _journalValidLength;

    public BrokerStateStore(string snapshotPath, IStateFileCodec codec)
    {
        _snapshotPath = snapshotPath;
        _journalPath = JournalPathFor(snapshotPath);
        _codec = codec;
    }

    public string SnapshotPath => _snapshotPath;

    /// <summary>The journal that sits beside a snapshot (<c>.journal</c> for <c>.json</c>).</summary>
    public static string JournalPathFor(string snapshotPath) => Path.ChangeExtension(snapshotPath, ".journal");

    public string JournalPath => _journalPath;

    /// <summary>Records appended since the last compaction.</summary>
    public int JournalRecords { get; private set; }

    /// <summary>Reads the snapshot and the journal records to replay over it, in order.</summary>
    public Result<(BrokerState State, List<BrokerJournalRecord> Journal)> Load()
    {
        BrokerState state = new();
        try
        {
            byte[]? file = AtomicFile.ReadOrNull(_snapshotPath);
            if (file is not null)
            {
                if (!_codec.Decode(file, BrokerState.Purpose).TryGetValue(out byte[]? json, out KheishError? decodeError))
                {
                    return decodeError;
                }

                BrokerState? parsed;
                try
                {
                    parsed = JsonSerializer.Deserialize(json, BrokerJsonContext.Default.BrokerState);
                }
                catch (JsonException)
                {
                    return Unreadable(_snapshotPath, "it is not a valid broker state document");
                }

                if (parsed is null || parsed.Version != BrokerState.CurrentVersion)
                {
                    return Unreadable(_snapshotPath, $"its version is not {BrokerState.CurrentVersion}");
                }

                state = parsed;
            }

            return ReadJournal().TryGetValue(out List<BrokerJournalRecord>? records, out KheishError? journalError)
                ? (state, records)
                : journalError;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Unreadable(_snapshotPath, $"it cannot be read ({Kheish.Core.Errors.IoReason.Of(ex)})");
        }
    }

    /// <summary>Appends one record and fsyncs it. Throws IOException on failure.</summary>
    public void Append(BrokerJournalRecord record)
    {
        byte[] encoded = _codec.Encode(
            JsonSerializer.SerializeToUtf8Bytes(record, BrokerJsonContext.Default.BrokerJournalRecord),
            BrokerJournalRecord.Purpose);
        byte[] line = encoded.AsSpan().IndexOfAny((byte)'\n', (byte)'\r') >= 0
            ? Encoding.ASCII.GetBytes(WrappedPrefix + Convert.ToBase64String(encoded) + "\n")
            : [.. encoded, (byte)'\n'];

        FileStream journal = OpenJournal();
        try
        {
            journal.Position = _journalValidLength;
            journal.Write(line);
            journal.Flush(flushToDisk: true);
            _journalValidLength += line.Length;
            JournalRecords++;
        }
        catch
        {
            CloseJournal();
            throw;
        }
    }

    /// <summary>Writes the snapshot atomically, then empties the journal. Throws IOException on failure.</summary>
    public void Compact(BrokerState snapshot)
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(snapshot, BrokerJsonContext.Default.BrokerState);
        AtomicFile.Write(_snapshotPath, _codec.Encode(json, BrokerState.Purpose));
        if (_journalValidLength > 0 || File.Exists(_journalPath))
        {
            FileStream journal = OpenJournal();
            try
            {
                journal.SetLength(0);
                journal.Flush(flushToDisk: true);
            }
            catch
            {
                CloseJournal();
                throw;
            }

            _journalValidLength = 0;
        }

        JournalRecords = 0;
    }

    public void Dispose() => CloseJournal();

    private FileStream OpenJournal()
    {
        if (_journal is not null)
        {
            return _journal;
        }

        string directory = Path.GetDirectoryName(Path.GetFullPath(_journalPath))!;
        PrivateDirectory.Ensure(directory);
        bool created = !File.Exists(_journalPath);
        var stream = new FileStream(_journalPath, new FileStreamOptions
        {
            Mode = FileMode.OpenOrCreate,
            Access = FileAccess.Write,
            Share = FileShare.Read,
            UnixCreateMode = AtomicFile.PrivateFileMode,
        });
        if (stream.Length != _journalValidLength)
        {
            // Drop a torn tail left by a crash mid-append, so the next record starts a fresh line.
            stream.SetLength(_journalValidLength);
            stream.Flush(flushToDisk: true);
        }

        if (created)
        {
            PosixNative.FsyncDirectory(directory);
        }

        _journal = stream;
        return stream;
    }

    /// <summary>
    /// Forgets the journal handle even when disposing it fails: after ENOSPC, Dispose flushes the
    /// buffered bytes again and throws, and a handle kept then would be a disposed stream that
    /// fails every later append (ObjectDisposedException) after the disk is freed.
    /// </summary>
    private void CloseJournal()
    {
        FileStream? journal = _journal;
        _journal = null;
        try
        {
            journal?.Dispose();
        }
        catch (IOException)
        {
            // The bytes were not acknowledged; the next open truncates to the last valid length.
        }
    }

    private Result<List<BrokerJournalRecord>> ReadJournal()
    {
        var records = new List<BrokerJournalRecord>();
        byte[]? file = AtomicFile.ReadOrNull(_journalPath);
        _journalValidLength = 0;
        if (file is null)
        {
            return records;
        }

        int start = 0;
        int lineNumber = 0;
        while (start < file.Length)
        {
            int newline = Array.IndexOf(file, (byte)'\n', start);
            if (newline < 0)
            {
                // A last line without its newline is an append cut by a crash: it was never acknowledged.
                break;
            }

            lineNumber++;
            ReadOnlySpan<byte> line = file.AsSpan(start, newline - start);
            byte[] encoded;
            if (line.StartsWith(Encoding.ASCII.GetBytes(WrappedPrefix)))
            {
                try
                {
                    encoded = Convert.FromBase64String(Encoding.ASCII.GetString(line[WrappedPrefix.Length..]));
                }
                catch (FormatException)
                {
                    return Unreadable(_journalPath, $"line {lineNumber} is corrupt");
                }
            }
            else
            {
                encoded = line.ToArray();
            }

            if (!_codec.Decode(encoded, BrokerJournalRecord.Purpose).TryGetValue(out byte[]? json, out KheishError? decodeError))
            {
                return decodeError;
            }

            BrokerJournalRecord? record;
            try
            {
                record = JsonSerializer.Deserialize(json, BrokerJsonContext.Default.BrokerJournalRecord);
            }
            catch (JsonException)
            {
                return Unreadable(_journalPath, $"line {lineNumber} is corrupt");
            }

            if (record is null)
            {
                return Unreadable(_journalPath, $"line {lineNumber} is corrupt");
            }

            records.Add(record);
            start = newline + 1;
        }

        _journalValidLength = start;
        JournalRecords = records.Count;
        return records;
    }

    public static KheishError Unreadable(string path, string why) =>
        KheishError.Misconfigured(
            "broker_state_unreadable",
            $"the broker state file {path} is unusable: {why}. Restore it from a backup; deleting it forgets every revocation.");
}
