using System.IO.Enumeration;
using Kheish.Core.Storage;

namespace Kheish.Core.Audit;

/// <summary>Where the ledger lives under a state root. Paths only; no I/O except listing.</summary>
internal sealed class LedgerPaths(StateRoot root)
{
    public const string RecordExtension = ".jsonl";
    public const string CheckpointExtension = ".json";

    public StateRoot Root { get; } = root;

    public string RecordsDirectory => Root.ExternalActionsDirectory;

    public string CheckpointsDirectory => Root.CheckpointsDirectory;

    /// <summary>The signed list of buckets. <c>_index</c> is neither a direct stem nor a hashed one.</summary>
    public string IndexFile => Path.Combine(CheckpointsDirectory, "_index.json");

    /// <summary>Held (flock) by the one process appending to this ledger.</summary>
    public string WriterLockFile => Path.Combine(RecordsDirectory, ".writer.lock");

    public string RecordFile(string stem) => Path.Combine(RecordsDirectory, stem + RecordExtension);

    public string CheckpointFile(string stem) => Path.Combine(CheckpointsDirectory, stem + CheckpointExtension);

    /// <summary>Stems of the bucket files on disk, sorted. Hidden and temporary files are skipped.</summary>
    public string[] ListRecordStems()
    {
        string[] stems = RecordStemsInDirectoryOrder();
        Array.Sort(stems, StringComparer.Ordinal);
        return stems;
    }

    /// <summary>
    /// <see cref="ListRecordStems"/> in the order the directory gives them: one string per bucket,
    /// cut from the directory entry (EnumerateFiles would make the full path, then the name, then
    /// the stem). Serve lists every bucket at start and needs no order (issue 16).
    /// </summary>
    public string[] RecordStemsInDirectoryOrder()
    {
        if (!Directory.Exists(RecordsDirectory))
        {
            return [];
        }

        return new FileSystemEnumerable<string>(
            RecordsDirectory,
            static (ref FileSystemEntry entry) => entry.FileName[..^RecordExtension.Length].ToString(),
            new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false, RecurseSubdirectories = false })
        {
            ShouldIncludePredicate = static (ref FileSystemEntry entry) =>
                !entry.IsDirectory && entry.FileName.EndsWith(RecordExtension, StringComparison.Ordinal) && !entry.FileName.StartsWith('.'),
        }.ToArray();
    }

    /// <summary>True when any ledger state exists: a bucket file or the index.</summary>
    public bool HasLedgerState() => File.Exists(IndexFile) || RecordStemsInDirectoryOrder().Length > 0;
}
