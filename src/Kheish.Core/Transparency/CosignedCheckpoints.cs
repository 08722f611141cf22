using System.Globalization;
using System.Text;
using Kheish.Core.Storage;

namespace Kheish.Core.Transparency;

/// <summary>
/// Witness cosignatures of recent checkpoints, kept beside the checkpoint: one file per checkpoint
/// under <c>external-action-log/cosigned/&lt;size&gt;</c> holding the log-signed note followed by
/// every cosignature line verified so far, replaced atomically as cosignatures arrive. Only the
/// newest <see cref="MaxKept"/> are kept (receipts are anchored to a recent checkpoint). Loading
/// keeps only files whose log signature verifies and whose root is the tree's at that size.
/// </summary>
internal sealed class CosignedCheckpoints
{
    public const int MaxKept = 16;

    private readonly string _directory;
    private readonly Lock _lock = new();
    private readonly SortedDictionary<long, Entry> _bySize = [];

    private CosignedCheckpoints(string directory) => _directory = directory;

    public static string DirectoryOf(LogPaths paths) => Path.Combine(paths.Directory, "cosigned");

    public static CosignedCheckpoints Empty(LogPaths paths) => new(DirectoryOf(paths));

    public static CosignedCheckpoints Load(LogPaths paths, byte[] logKey, MerkleTree tree)
    {
        var store = new CosignedCheckpoints(DirectoryOf(paths));
        if (!Directory.Exists(store._directory))
        {
            return store;
        }

        foreach (string file in Directory.EnumerateFiles(store._directory))
        {
            string name = Path.GetFileName(file);
            if (!long.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out long size)
                || AtomicFile.ReadOrNull(file) is not { } bytes
                || LogState.OpenCheckpoint(bytes, logKey, null, out _) is not { } checkpoint
                || checkpoint.Size != size || size > tree.Size
                // A tree opened from its right edge has the root of its own size only; the rest
                // are loaded with the log's history (their files stay on disk meanwhile).
                || (tree.IsRightEdgeOnly && size != tree.Size)
                || !tree.Root(size).AsSpan().SequenceEqual(checkpoint.RootHash)
                || SignedNote.TryParse(bytes, out _) is not { } parsed)
            {
                continue;
            }

            NoteVerifierKey logVerifier = LogState.VerifierFor(checkpoint.Origin, logKey);
            string logLines = string.Concat(parsed.Signatures.Where(s => IsLog(s, logVerifier)).Select(Cosignature.LineOf));
            List<string> lines = [.. parsed.Signatures.Where(s => !IsLog(s, logVerifier)).Select(Cosignature.LineOf)];
            if (lines.Count > 0)
            {
                store._bySize[size] = new Entry(checkpoint, parsed.Text + "\n" + logLines, lines);
            }
        }

        return store;
    }

    /// <summary>
    /// Adds a verified cosignature line to the checkpoint <paramref name="logNote"/> (log-signed only)
    /// and writes its file; a line by the same witness name replaces the older one.
    /// </summary>
    public void Add(Checkpoint checkpoint, string logNote, string line)
    {
        lock (_lock)
        {
            if (!_bySize.TryGetValue(checkpoint.Size, out Entry? entry))
            {
                entry = new Entry(checkpoint, logNote, []);
            }

            string name = NameOf(line);
            List<string> lines = [.. entry.Lines.Where(l => NameOf(l) != name), line];
            var updated = entry with { Lines = lines };
            PrivateDirectory.Ensure(_directory);
            AtomicFile.Write(Path.Combine(_directory, checkpoint.Size.ToString(CultureInfo.InvariantCulture)), Encoding.UTF8.GetBytes(updated.Note));
            _bySize[checkpoint.Size] = updated;
            while (_bySize.Count > MaxKept)
            {
                long oldest = _bySize.Keys.First();
                _bySize.Remove(oldest);
                File.Delete(Path.Combine(_directory, oldest.ToString(CultureInfo.InvariantCulture)));
            }
        }
    }

    /// <summary>The checkpoint note of <paramref name="size"/> with its cosignature lines, or null when it has none.</summary>
    public string? NoteFor(long size)
    {
        lock (_lock)
        {
            return _bySize.TryGetValue(size, out Entry? entry) ? entry.Note : null;
        }
    }

    /// <summary>The cosigned checkpoint covering leaf <paramref name="index"/> with the most cosignatures (then the newest), or null.</summary>
    public (Checkpoint Checkpoint, string Note)? BestCovering(long index, long maxSize)
    {
        lock (_lock)
        {
            Entry? best = _bySize.Values
                .Where(e => e.Checkpoint.Size > index && e.Checkpoint.Size <= maxSize)
                .OrderByDescending(e => e.Lines.Count)
                .ThenByDescending(e => e.Checkpoint.Size)
                .FirstOrDefault();
            return best is null ? null : (best.Checkpoint, best.Note);
        }
    }

    private static bool IsLog(NoteSignature sig, NoteVerifierKey log) =>
        sig.KeyId == log.KeyId && string.Equals(sig.Name, log.Name, StringComparison.Ordinal);

    private static string NameOf(string line) => line.Split(' ')[1];

    private sealed record Entry(Checkpoint Checkpoint, string LogNote, List<string> Lines)
    {
        public string Note => LogNote + string.Concat(Lines);
    }
}
