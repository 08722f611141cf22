using System.Text;
using Kheish.Core.Audit;
using Kheish.Core.Crypto;
using Kheish.Core.Storage;

namespace Kheish.Core.Transparency;

/// <summary>
/// The log rebuilt from disk: the sequenced leaves (the leaves file) checked against the bucket
/// files, the records not yet sequenced (a crash between a record's sync and its sequencing), and
/// the latest checkpoint checked against the tree. Shared by the daemon's recovery and the offline
/// verbs; <see cref="Problem"/> names the first inconsistency and nothing is repaired here.
/// </summary>
internal sealed class LogState
{
    public const int EntrySize = 64;

    private LogState(LogPaths paths)
    {
        Paths = paths;
        Tree = new MerkleTree { FullTiles = ReadFullTile };
    }

    /// <summary>An empty view (nothing could be read) that proves nothing.</summary>
    public static LogState Empty(StateRoot root)
    {
        var paths = new LogPaths(root);
        return new(paths) { Cosigned = CosignedCheckpoints.Empty(paths) };
    }

    public LogPaths Paths { get; }

    public MerkleTree Tree { get; private set; }

    /// <summary>
    /// The first leaf <see cref="ByAction"/> knows when <see cref="KeepRecent"/> dropped the older
    /// ones (0: it knows every sequenced leaf, or none at all when <see cref="IsRightEdge"/>).
    /// </summary>
    public long ByActionFrom { get; private set; }

    /// <summary>
    /// True when this state was loaded from the checkpoint and tiles only (<see cref="TryLoadFromCheckpoint"/>):
    /// the tree is its right edge and <see cref="ByAction"/> is empty; proofs need <see cref="Load"/>.
    /// </summary>
    public bool IsRightEdge { get; private set; }

    /// <summary>Bytes read to load this state (the leaves file and tiles; bucket files are not counted).</summary>
    public long BytesRead { get; private set; }

    /// <summary>Leaf index and bucket stem of every sequenced record.</summary>
    public Dictionary<ActionKey, (long Index, string Stem)> ByAction { get; } = [];

    /// <summary>Records in the buckets but not in the leaves file, in the order recovery appends them.</summary>
    public List<LogEntry> Unsequenced { get; } = [];

    /// <summary>Bytes of the leaves file that are a whole number of entries (a torn tail is ignored).</summary>
    public long ValidLeavesLength { get; private set; }

    public string? Problem { get; private set; }

    public Checkpoint? Checkpoint { get; private set; }

    public string? CheckpointNote { get; private set; }

    /// <summary>Witness cosignatures of recent checkpoints (empty when the log does not load cleanly).</summary>
    public CosignedCheckpoints Cosigned { get; private set; } = null!;

    /// <summary>
    /// Loads the log under <paramref name="root"/>. <paramref name="publicKey"/> is the key the
    /// checkpoint must be signed by (its key name is the checkpoint's own origin line).
    /// </summary>
    public static LogState Load(StateRoot root, byte[] publicKey)
    {
        var paths = new LogPaths(root);
        var state = new LogState(paths);
        var ledger = new LedgerPaths(root);
        var scanned = new Dictionary<ActionKey, LogEntry>();
        foreach (string stem in ledger.ListRecordStems())
        {
            using RecordFileReader reader = RecordFileReader.Open(ledger.RecordFile(stem));
            long line = 0;
            while (reader.ReadLine() is { } bytes)
            {
                if (!LogEntry.TryReadFields(bytes, out byte[] actionId, out long ts))
                {
                    state.Problem ??= $"bucket {stem} line {line + 1} is not a ledger record; the log cannot include it";
                    line++;
                    continue;
                }

                scanned[ActionKey.From(actionId)] = new LogEntry(stem, line, MerkleHash.Leaf(bytes), actionId, ts);
                line++;
            }
        }

        byte[] leaves = Directory.Exists(paths.Directory) ? AtomicFile.ReadOrNull(paths.LeavesFile) ?? [] : [];
        state.ValidLeavesLength = leaves.Length - (leaves.Length % EntrySize);
        for (long i = 0; i < state.ValidLeavesLength / EntrySize; i++)
        {
            ReadOnlySpan<byte> entry = leaves.AsSpan((int)(i * EntrySize), EntrySize);
            ActionKey key = ActionKey.From(entry[32..]);
            if (state.Problem is null)
            {
                if (!scanned.Remove(key, out LogEntry? record))
                {
                    state.Problem = state.ByAction.ContainsKey(key)
                        ? $"leaf {i} repeats action {Convert.ToHexStringLower(entry[32..])}"
                        : $"leaf {i} (action {Convert.ToHexStringLower(entry[32..])}) is in no bucket: records were removed or a bucket was replaced";
                }
                else if (!record.LeafHash.AsSpan().SequenceEqual(entry[..32]))
                {
                    state.Problem = $"leaf {i} (action {Convert.ToHexStringLower(entry[32..])}) does not hash to its record line in bucket {record.Stem}: the record was changed";
                }
                else
                {
                    state.ByAction[key] = (i, record.Stem);
                }
            }

            state.Tree.Append(entry[..32]);
        }

        state.Unsequenced.AddRange(scanned.Values
            .OrderBy(e => e.TimestampMs)
            .ThenBy(e => e.Stem, StringComparer.Ordinal)
            .ThenBy(e => e.Line));
        state.LoadCheckpoint(publicKey);
        state.Cosigned = state.Problem is null && state.Checkpoint is not null
            ? CosignedCheckpoints.Load(paths, publicKey, state.Tree)
            : CosignedCheckpoints.Empty(paths);
        return state;
    }

    /// <summary>
    /// The log as a clean close left it, without reading a bucket or the whole leaves file: the
    /// checkpoint (signature checked), the leaves file's length, and the right edge of the tree
    /// from the last partial leaves and the partial tiles, whose root must be the checkpoint's.
    /// Null when the log was not closed cleanly at its latest checkpoint (a crash, an older
    /// version, any mismatch): then <see cref="Load"/> rebuilds and checks everything.
    /// </summary>
    public static LogState? TryLoadFromCheckpoint(StateRoot root, byte[] publicKey)
    {
        var paths = new LogPaths(root);
        if (AtomicFile.ReadOrNull(paths.ClosedFile) is not { } marker
            || !long.TryParse(Encoding.ASCII.GetString(marker).Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long size)
            || AtomicFile.ReadOrNull(paths.CheckpointFile) is not { } note
            || OpenCheckpoint(note, publicKey, null, out _) is not { } checkpoint
            || checkpoint.Size != size)
        {
            return null;
        }

        var state = new LogState(paths) { IsRightEdge = true };
        var partials = new List<byte[]>();
        if (!File.Exists(paths.LeavesFile))
        {
            return null;
        }

        using (var leaves = new FileStream(paths.LeavesFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.RandomAccess))
        {
            if (leaves.Length != size * EntrySize)
            {
                return null;
            }

            int width = (int)(size % TileWriter.Width);
            byte[] entries = new byte[width * EntrySize];
            RandomAccess.Read(leaves.SafeFileHandle, entries, (size - width) * EntrySize);
            state.BytesRead += entries.Length;
            byte[] level0 = new byte[width * MerkleHash.Size];
            for (int i = 0; i < width; i++)
            {
                entries.AsSpan(i * EntrySize, MerkleHash.Size).CopyTo(level0.AsSpan(i * MerkleHash.Size));
            }

            partials.Add(level0);
        }

        for (int k = 1; 8 * k < 63 && (size >> (8 * k)) > 0; k++)
        {
            long count = size >> (8 * k);
            int width = (int)(count % TileWriter.Width);
            if (width == 0)
            {
                partials.Add([]);
                continue;
            }

            byte[]? tile = AtomicFile.ReadOrNull(Path.Combine(paths.TilesDirectory, TileWriter.TilePath(k, count / TileWriter.Width, width)));
            if (tile is null || tile.Length != width * MerkleHash.Size)
            {
                return null;
            }

            state.BytesRead += tile.Length;
            partials.Add(tile);
        }

        state.Tree = MerkleTree.FromRightEdge(size, partials, state.ReadFullTile);
        if (!state.Tree.Root(size).AsSpan().SequenceEqual(checkpoint.RootHash))
        {
            return null;
        }

        state.ValidLeavesLength = size * EntrySize;
        state.Checkpoint = checkpoint;
        state.CheckpointNote = Encoding.UTF8.GetString(note);
        state.Cosigned = CosignedCheckpoints.Load(paths, publicKey, state.Tree);
        return state;
    }

    /// <summary>
    /// Keeps the tree to its right edge, reading older hashes from the full tiles (every full tile
    /// of its size must be written before this is called): what a running log holds stays bounded (issue 16).
    /// </summary>
    public void TrimTree() => Tree = Tree.ToRightEdge();

    /// <summary>
    /// Keeps the leaves from <paramref name="from"/> on in <see cref="ByAction"/> (issue 16). A
    /// receipt of an older action loads the whole log again, as after an open from the checkpoint.
    /// </summary>
    public void KeepRecent(long from)
    {
        foreach (KeyValuePair<ActionKey, (long Index, string Stem)> entry in ByAction)
        {
            if (entry.Value.Index < from)
            {
                ByAction.Remove(entry.Key);
            }
        }

        ByAction.TrimExcess();
        ByActionFrom = from;
    }

    /// <summary>A full tile from disk; any failure is an <see cref="IOException"/> naming the file.</summary>
    private byte[] ReadFullTile(int level, long index)
    {
        string path = Path.Combine(Paths.TilesDirectory, TileWriter.TilePath(level, index));
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new IOException($"{path}: {ex.Message}", ex);
        }
    }

    /// <summary>Appends the unsequenced records to the in-memory tree (recovery writes them to the leaves file too).</summary>
    public void SequenceRecovered()
    {
        foreach (LogEntry e in Unsequenced)
        {
            ByAction[ActionKey.From(e.ActionId)] = (Tree.Size, e.Stem);
            Tree.Append(e.LeafHash);
        }
    }

    /// <summary>Reads the record line of the leaf at <paramref name="index"/> from its bucket (the line whose leaf hash matches).</summary>
    public byte[]? ReadLine(StateRoot root, string stem, ReadOnlySpan<byte> leafHash)
    {
        var ledger = new LedgerPaths(root);
        using RecordFileReader reader = RecordFileReader.Open(ledger.RecordFile(stem));
        Span<byte> hash = stackalloc byte[MerkleHash.Size];
        while (reader.ReadLine() is { } line)
        {
            MerkleHash.Leaf(line, hash);
            if (hash.SequenceEqual(leafHash))
            {
                return line;
            }
        }

        return null;
    }

    /// <summary>The receipt of <paramref name="actionId"/> against the latest checkpoint on disk (no daemon needed).</summary>
    public Kheish.Core.Errors.Result<TlogProof> Prove(StateRoot root, string actionId)
    {
        if (ActionKey.TryParseHex(actionId) is not { } key)
        {
            return Kheish.Core.Errors.KheishError.BadRequest("invalid_action_id", "an action id is 64 lowercase hex characters (the record's action_id)");
        }

        if (Problem is { } problem)
        {
            return Kheish.Core.Errors.KheishError.Unavailable("transparency_log_unavailable", $"the transparency log does not match its records: {problem}");
        }

        if (!ByAction.TryGetValue(key, out (long Index, string Stem) at))
        {
            return Unsequenced.Any(e => ActionKey.From(e.ActionId) == key)
                ? Kheish.Core.Errors.KheishError.Conflict("action_not_checkpointed", $"action {actionId} is recorded but not yet in the log (the daemon sequences it when it next starts)")
                : Kheish.Core.Errors.KheishError.NotFound("action_not_logged", $"no ledger record with action id {actionId} is in the transparency log under {Paths.Directory}");
        }

        if (Checkpoint is not { } checkpoint || CheckpointNote is not { } note || at.Index >= checkpoint.Size)
        {
            return Kheish.Core.Errors.KheishError.Conflict("action_not_checkpointed", $"action {actionId} is leaf {at.Index}, after the latest checkpoint (size {Checkpoint?.Size ?? 0}); the daemon publishes one at least every second");
        }

        byte[] leaf = Tree.LeafHash(at.Index).ToArray();
        byte[]? line = ReadLine(root, at.Stem, leaf);
        if (line is null)
        {
            return Kheish.Core.Errors.KheishError.Unavailable("transparency_log_unavailable", $"the record line of action {actionId} is no longer in bucket {at.Stem}");
        }

        // A witnessed checkpoint that covers the record is worth more than a newer unwitnessed one.
        if (Cosigned.BestCovering(at.Index, checkpoint.Size) is { } cosigned)
        {
            (checkpoint, note) = cosigned;
        }

        return new TlogProof(line, at.Index, Tree.InclusionProof(at.Index, checkpoint.Size), note);
    }

    /// <summary>The note key a checkpoint of <paramref name="origin"/> is signed with.</summary>
    public static NoteVerifierKey VerifierFor(string origin, byte[] publicKey) => NoteVerifierKey.ForEd25519(origin, publicKey);

    /// <summary>The origin line of a note, read before verifying it (the key name is the origin).</summary>
    public static string? PeekOrigin(ReadOnlySpan<byte> note)
    {
        string text = Encoding.UTF8.GetString(note);
        int nl = text.IndexOf('\n', StringComparison.Ordinal);
        return nl > 0 && SignedNote.IsValidName(text[..nl]) ? text[..nl] : null;
    }

    /// <summary>Opens a checkpoint note signed by <paramref name="publicKey"/> under its own origin as key name.</summary>
    public static Checkpoint? OpenCheckpoint(ReadOnlySpan<byte> note, byte[] publicKey, string? expectedOrigin, out string? error)
    {
        string? origin = PeekOrigin(note);
        if (origin is null)
        {
            error = "the checkpoint's first line is not a valid origin";
            return null;
        }

        if (expectedOrigin is not null && !string.Equals(origin, expectedOrigin, StringComparison.Ordinal))
        {
            error = $"the checkpoint is for origin '{origin}', not '{expectedOrigin}'";
            return null;
        }

        return Checkpoint.Open(note, [VerifierFor(origin, publicKey)], out error);
    }

    private void LoadCheckpoint(byte[] publicKey)
    {
        byte[]? note;
        try
        {
            note = Directory.Exists(Paths.Directory) ? AtomicFile.ReadOrNull(Paths.CheckpointFile) : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Problem ??= $"cannot read {Paths.CheckpointFile} ({ex.Message})";
            return;
        }

        if (note is null)
        {
            // A crash between writing the first leaves and the first checkpoint leaves none; the
            // daemon publishes one on start. (Deleting it rolls nothing back: the kept copy elsewhere is the anchor.)
            return;
        }

        Checkpoint? checkpoint = OpenCheckpoint(note, publicKey, null, out string? error);
        if (checkpoint is null)
        {
            Problem ??= $"the checkpoint {Paths.CheckpointFile} does not verify: {error}";
            return;
        }

        Checkpoint = checkpoint;
        CheckpointNote = Encoding.UTF8.GetString(note);
        long sequenced = ValidLeavesLength / EntrySize;
        if (checkpoint.Size > sequenced)
        {
            Problem ??= $"the checkpoint covers {checkpoint.Size} leaves but the leaves file has {sequenced}: the log was truncated or rolled back";
            return;
        }

        if (!Tree.Root(checkpoint.Size).AsSpan().SequenceEqual(checkpoint.RootHash))
        {
            Problem ??= $"the tree of the first {checkpoint.Size} leaves does not match the checkpoint's root: the leaves file was changed";
        }
    }

    /// <summary>Ed25519 public key bytes from 64 hex characters, or null.</summary>
    public static byte[]? ParsePublicKey(string? hex)
    {
        hex = hex?.Trim().ToLowerInvariant();
        return hex is { Length: 64 } && hex.All(char.IsAsciiHexDigit) && Ed25519PublicKey.TryImport(Convert.FromHexString(hex)) is not null
            ? Convert.FromHexString(hex)
            : null;
    }
}
