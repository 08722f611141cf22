using System.Globalization;

namespace Kheish.Core.Transparency;

/// <summary>
/// Writes the tree's hash tiles in the C2SP tlog-tiles layout: <c>tile/&lt;L&gt;/&lt;N&gt;</c> holds
/// 256 hashes of height 8·L (level 0 = leaf hashes), <c>.p/&lt;W&gt;</c> the partial right-edge tile
/// of width W, and N is written in 3-digit groups with <c>x</c> before all but the last
/// (1234067 → x001/x234/067). Entry bundles (<c>tile/entries</c>) are not written: the entries
/// are the bucket files' lines.
/// <para>
/// A full tile is immutable; a running log reads dropped tree hashes back from them. Tiles are
/// written without a sync each (one per full tile cost the 16-producer ledger bench ~7% of its
/// records per CPU-second, issue 16): a clean close syncs the file system before it marks the
/// close, so the open from that checkpoint may trust the full tiles (it checks the partial ones
/// against the checkpoint's root), and after a crash the open rebuilds the log, whose writer
/// rewrites every full tile that does not hold the tree's hashes.
/// </para>
/// <para>
/// Per level the writer keeps the partial tile of the last checkpoint and of the one before (for
/// a reader that fetched the previous checkpoint) and deletes older ones; a tile's <c>.p</c>
/// directory goes once its full tile exists. They used to pile up, one file per level per
/// checkpoint.
/// </para>
/// </summary>
internal sealed class TileWriter(string directory)
{
    public const int Width = 256;

    private readonly List<long> _fullWritten = [];

    /// <summary>Per level, the partial tiles written at the last checkpoint and at the one before.</summary>
    private readonly List<(string? Last, string? Previous)> _partials = [];

    /// <summary>
    /// A writer for a log reopened from its checkpoint and tiles: the full tiles of
    /// <paramref name="tree"/>'s size were written before, so only newer ones are, and the
    /// partial tiles of that size (the open checked them) count as the last checkpoint's.
    /// </summary>
    public static TileWriter Continuing(string directory, MerkleTree tree)
    {
        var writer = new TileWriter(directory);
        for (int level = 0; 8 * level < 63 && tree.StoredCount(8 * level) > 0; level++)
        {
            long count = tree.StoredCount(8 * level);
            int width = (int)(count % Width);
            writer._fullWritten.Add(count / Width);
            writer._partials.Add((width > 0 ? TilePath(level, count / Width, width) : null, null));
            // Partial tiles of this tile left by older checkpoints of the last run.
            string partials = PartialsDirectory(directory, level, count / Width);
            string kept = width.ToString(CultureInfo.InvariantCulture);
            if (Directory.Exists(partials))
            {
                foreach (string stale in Directory.EnumerateFiles(partials).Where(f => Path.GetFileName(f) != kept).ToList())
                {
                    DeleteQuietly(stale, isDirectory: false);
                }
            }
        }

        return writer;
    }

    public static string TilePath(int level, long index, int partialWidth = 0)
    {
        string n = index.ToString("D", CultureInfo.InvariantCulture);
        int pad = (3 - (n.Length % 3)) % 3;
        n = new string('0', pad) + n;
        var parts = new List<string>();
        for (int i = 0; i < n.Length; i += 3)
        {
            parts.Add(string.Concat(i + 3 < n.Length ? "x" : "", n.AsSpan(i, 3)));
        }

        string path = Path.Combine([level.ToString(CultureInfo.InvariantCulture), .. parts]);
        return partialWidth > 0 ? $"{path}.p{Path.DirectorySeparatorChar}{partialWidth.ToString(CultureInfo.InvariantCulture)}" : path;
    }

    /// <summary>Writes every full tile not yet written and the current partial tiles.</summary>
    public void Write(MerkleTree tree)
    {
        for (int level = 0; 8 * level < 63; level++)
        {
            long count = tree.StoredCount(8 * level);
            if (count == 0)
            {
                break;
            }

            while (_fullWritten.Count <= level)
            {
                _fullWritten.Add(0);
                _partials.Add((null, null));
            }

            long full = count / Width;
            for (long n = _fullWritten[level]; n < full; n++)
            {
                WriteTile(tree, level, n, Width, TilePath(level, n));
                DeleteQuietly(PartialsDirectory(directory, level, n), isDirectory: true);
            }

            _fullWritten[level] = full;
            int partial = (int)(count % Width);
            (string? last, string? previous) = _partials[level];
            string? current = partial > 0 ? TilePath(level, full, partial) : null;
            // The tree only grows, so a partial tile of an unchanged width is unchanged.
            if (current is not null && current != last)
            {
                WriteTile(tree, level, full, partial, current);
                if (previous is not null)
                {
                    DeleteQuietly(Path.Combine(directory, previous), isDirectory: false);
                }

                _partials[level] = (current, last);
            }
        }
    }

    private void WriteTile(MerkleTree tree, int level, long index, int width, string relative)
    {
        string path = Path.Combine(directory, relative);
        byte[] bytes = tree.Tile(level, index, width);
        // A full tile already there is kept only if it holds these hashes: one left by an older
        // version or damaged on disk is rewritten by the first writer of the whole tree (the open
        // that rebuilds the log after a crash).
        if (width == Width && File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes))
        {
            return;
        }

        string dir = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir);
        string temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The directory that holds tile (<paramref name="level"/>, <paramref name="index"/>)'s partial tiles, one file per width.</summary>
    private static string PartialsDirectory(string directory, int level, long index) => Path.Combine(directory, TilePath(level, index) + ".p");

    /// <summary>Cleanup only: a partial tile left behind is stale but harmless (a reader of its checkpoint gets right hashes).</summary>
    private static void DeleteQuietly(string path, bool isDirectory)
    {
        try
        {
            if (isDirectory)
            {
                if (Directory.Exists(path))
                {
                    Directory.Delete(path, recursive: true);
                }
            }
            else
            {
                File.Delete(path);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }
}
