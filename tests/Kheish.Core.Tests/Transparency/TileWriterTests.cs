using Kheish.Core.Transparency;

namespace Kheish.Core.Tests.Transparency;

/// <summary>
/// What the tile writer leaves on disk across many checkpoints: whole full tiles, and per level
/// only the partial tiles of the last two checkpoints (issue 16: they used to pile up, one new
/// file per level per checkpoint, kept forever).
/// </summary>
public sealed class TileWriterTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kheish-tiles-" + Guid.NewGuid().ToString("N")[..12]);

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    private static void Grow(MerkleTree tree, int leaves)
    {
        for (int i = 0; i < leaves; i++)
        {
            tree.Append(MerkleHash.Leaf(BitConverter.GetBytes(tree.Size)));
        }
    }

    private List<string> Partials(int level) =>
        Directory.Exists(Path.Combine(_dir, level.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            ? Directory.EnumerateFiles(Path.Combine(_dir, level.ToString(System.Globalization.CultureInfo.InvariantCulture)), "*", SearchOption.AllDirectories)
                .Where(f => Path.GetDirectoryName(f)!.EndsWith(".p", StringComparison.Ordinal))
                .Select(f => Path.GetRelativePath(_dir, f))
                .Order(StringComparer.Ordinal)
                .ToList()
            : [];

    [Test]
    public async Task Many_checkpoints_leave_two_partial_tiles_per_level_and_no_partials_beside_full_tiles()
    {
        var tree = new MerkleTree();
        var writer = new TileWriter(_dir);
        // 701 checkpoints of 97 leaves: 67,997 leaves, 265 full level-0 tiles and one full level-1 tile.
        for (int checkpoint = 0; checkpoint < 701; checkpoint++)
        {
            Grow(tree, 97);
            writer.Write(tree);
        }

        long size = tree.Size;
        for (int level = 0; level < 3; level++)
        {
            long count = tree.StoredCount(8 * level);
            List<string> partials = Partials(level);
            await Assert.That(partials.Count <= 2).IsTrue().Because($"level {level}: {string.Join(", ", partials)}");
            await Assert.That(partials).Contains(TileWriter.TilePath(level, count / TileWriter.Width, (int)(count % TileWriter.Width)));
            for (long n = 0; n < count / TileWriter.Width; n++)
            {
                string full = Path.Combine(_dir, TileWriter.TilePath(level, n));
                await Assert.That(File.ReadAllBytes(full).AsSpan().SequenceEqual(tree.Tile(level, n, TileWriter.Width))).IsTrue().Because(full);
                await Assert.That(Directory.Exists(full + ".p")).IsFalse().Because(full + ".p");
            }
        }

        // The previous checkpoint's partial tile is still there for a reader that fetched that checkpoint.
        long before = size - 97;
        await Assert.That(File.Exists(Path.Combine(_dir, TileWriter.TilePath(0, before / TileWriter.Width, (int)(before % TileWriter.Width))))).IsTrue();
        await Assert.That(Directory.EnumerateFiles(_dir, "*.tmp", SearchOption.AllDirectories)).IsEmpty();
    }

    [Test]
    public async Task A_checkpoint_that_changes_no_width_rewrites_no_partial_tile()
    {
        var tree = new MerkleTree();
        var writer = new TileWriter(_dir);
        Grow(tree, 300);
        writer.Write(tree);
        string level1 = Path.Combine(_dir, TileWriter.TilePath(1, 0, 1));
        // A rewrite is a new file (temp and rename) with a new time; the old time stays only if none happened.
        DateTime marked = File.GetLastWriteTimeUtc(level1).AddHours(-1);
        File.SetLastWriteTimeUtc(level1, marked);
        Grow(tree, 10);
        writer.Write(tree);
        await Assert.That(File.GetLastWriteTimeUtc(level1)).IsEqualTo(marked);
        await Assert.That(File.Exists(Path.Combine(_dir, TileWriter.TilePath(0, 1, 54)))).IsTrue();
    }

    [Test]
    public async Task A_writer_continuing_after_a_restart_removes_the_partial_tiles_of_the_last_run()
    {
        var tree = new MerkleTree();
        var first = new TileWriter(_dir);
        Grow(tree, 100);
        first.Write(tree);
        Grow(tree, 100);
        first.Write(tree);
        await Assert.That(Partials(0)).IsEquivalentTo([TileWriter.TilePath(0, 0, 100), TileWriter.TilePath(0, 0, 200)]);

        // The reopen keeps the partial tile of the checkpoint it opened from, and that one goes
        // like any other checkpoint's, two checkpoints later.
        var continuing = TileWriter.Continuing(_dir, tree);
        await Assert.That(Partials(0)).IsEquivalentTo([TileWriter.TilePath(0, 0, 200)]);
        Grow(tree, 20);
        continuing.Write(tree);
        Grow(tree, 20);
        continuing.Write(tree);
        await Assert.That(Partials(0)).IsEquivalentTo([TileWriter.TilePath(0, 0, 220), TileWriter.TilePath(0, 0, 240)]);
        Grow(tree, 20);
        continuing.Write(tree);
        await Assert.That(Partials(0)).IsEquivalentTo([TileWriter.TilePath(0, 1, 4)]);
        await Assert.That(File.ReadAllBytes(Path.Combine(_dir, TileWriter.TilePath(0, 0))).AsSpan().SequenceEqual(tree.Tile(0, 0, TileWriter.Width))).IsTrue();
    }

    [Test]
    public async Task A_damaged_full_tile_of_the_right_length_is_rewritten_by_a_writer_of_the_whole_tree()
    {
        var tree = new MerkleTree();
        Grow(tree, 600);
        new TileWriter(_dir).Write(tree);
        string tile = Path.Combine(_dir, TileWriter.TilePath(0, 1));
        File.WriteAllBytes(tile, new byte[TileWriter.Width * MerkleHash.Size]);

        // The open that rebuilds the log after a crash writes through a new writer of the whole tree.
        new TileWriter(_dir).Write(tree);
        await Assert.That(File.ReadAllBytes(tile).AsSpan().SequenceEqual(tree.Tile(0, 1, TileWriter.Width))).IsTrue();
    }
}
