using System.Globalization;

namespace Kheish.Core.Transparency;

/// <summary>
/// Writes the tree's hash tiles in the C2SP tlog-tiles layout: <c>tile/&lt;L&gt;/&lt;N&gt;</c> holds
/// 256 hashes of height 8·L (level 0 = leaf hashes), <c>.p/&lt;W&gt;</c> the partial right-edge tile
/// of width W, and N is written in 3-digit groups with <c>x</c> before all but the last
/// (1234067 → x001/x234/067). Tiles are derived from the leaves file, so they are written without
/// fsync (a crash leaves at worst a tile the next checkpoint rewrites); full tiles are immutable.
/// Entry bundles (<c>tile/entries</c>) are not written: the entries are the bucket files' lines.
/// </summary>
internal sealed class TileWriter(string directory)
{
    public const int Width = 256;

    private readonly List<long> _fullWritten = [];

    /// <summary>
    /// A writer for a log reopened from its checkpoint and tiles: the full tiles of
    /// <paramref name="tree"/>'s size were written before, so only newer ones are.
    /// </summary>
    public static TileWriter Continuing(string directory, MerkleTree tree)
    {
        var writer = new TileWriter(directory);
        for (int level = 0; 8 * level < 63 && tree.StoredCount(8 * level) > 0; level++)
        {
            writer._fullWritten.Add(tree.StoredCount(8 * level) / Width);
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
            }

            long full = count / Width;
            for (long n = _fullWritten[level]; n < full; n++)
            {
                WriteTile(tree, level, n, Width, TilePath(level, n));
            }

            _fullWritten[level] = full;
            int partial = (int)(count % Width);
            if (partial > 0)
            {
                WriteTile(tree, level, full, partial, TilePath(level, full, partial));
            }
        }
    }

    private void WriteTile(MerkleTree tree, int level, long index, int width, string relative)
    {
        string path = Path.Combine(directory, relative);
        if (width == Width && File.Exists(path) && new FileInfo(path).Length == Width * MerkleHash.Size)
        {
            return;
        }

        byte[] bytes = tree.Tile(level, index, width);
        string dir = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir);
        string temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }
}
