namespace Kheish.Core.Transparency;

/// <summary>
/// An append-only RFC 6962 tree in memory. It keeps the hash of every complete (power-of-two,
/// aligned) subtree, level by level — the same hashes tlog-tiles stores — so any root,
/// inclusion proof or consistency proof for any size up to <see cref="Size"/> costs O(log² n)
/// hashing. A tree kept to its right edge (<see cref="ToRightEdge"/>) holds at most 255 of them
/// per tile level and reads the others from the log's full tiles. Not thread-safe: the owner
/// serialises appends and reads.
/// </summary>
internal sealed class MerkleTree
{
    private readonly List<HashLevel> _levels = [new HashLevel()];

    private (int Level, long Index, byte[] Hashes)? _lastTile;

    public long Size => _levels[0].Count;

    /// <summary>
    /// Reads the full tile (tile level, tile index) the log wrote: 256 hashes of height 8 × tile
    /// level. A tree kept to its right edge (<see cref="FromRightEdge"/>, <see cref="ToRightEdge"/>)
    /// reads what lies before its edge from these; without it such a read throws.
    /// </summary>
    public Func<int, long, byte[]>? FullTiles { get; init; }

    /// <summary>Hashes held in memory, all levels (the rest is read from <see cref="FullTiles"/>).</summary>
    public long HashesHeld => _levels.Sum(l => l.Count - l.Base);

    /// <summary>
    /// True when the tree holds only its right edge (see <see cref="FromRightEdge"/>): it appends,
    /// gives <see cref="Root"/> of its own size and the hashes tiles need; older hashes only
    /// through <see cref="FullTiles"/>.
    /// </summary>
    public bool IsRightEdgeOnly => _levels.Exists(l => l.Base > 0);

    /// <summary>
    /// A tree of <paramref name="size"/> leaves rebuilt from its right edge only: for each tile level
    /// k, the hashes at tree level 8k of the partial (rightmost, incomplete) tile, that is indices
    /// [(size &gt;&gt; 8k) - w, size &gt;&gt; 8k) with w = (size &gt;&gt; 8k) mod 256, concatenated in
    /// <paramref name="partialTiles"/>[k]. Those are exactly the hashes appending and the next
    /// tiles need; the levels between are rehashed from them (at most 255 hashes per tile level).
    /// Check its <see cref="Root"/> against a signed checkpoint before trusting it.
    /// </summary>
    public static MerkleTree FromRightEdge(long size, IReadOnlyList<byte[]> partialTiles, Func<int, long, byte[]>? fullTiles = null)
    {
        var tree = new MerkleTree { FullTiles = fullTiles };
        tree._levels.Clear();
        for (int level = 0; level == 0 || (size >> level) > 0; level++)
        {
            long count = size >> level;
            if (level % 8 == 0)
            {
                byte[] partial = level / 8 < partialTiles.Count ? partialTiles[level / 8] : [];
                int width = partial.Length / MerkleHash.Size;
                if (width != count % TileWriter.Width || partial.Length % MerkleHash.Size != 0)
                {
                    throw new ArgumentException($"tile level {level / 8} needs {count % TileWriter.Width} hashes, got {partial.Length} bytes", nameof(partialTiles));
                }

                var hashes = new HashLevel(count - width);
                for (int i = 0; i < width; i++)
                {
                    hashes.Add(partial.AsSpan(i * MerkleHash.Size, MerkleHash.Size));
                }

                tree._levels.Add(hashes);
            }
            else
            {
                HashLevel below = tree._levels[level - 1];
                var hashes = new HashLevel(below.Base / 2);
                for (long i = below.Base / 2; i < count; i++)
                {
                    hashes.Add(MerkleHash.Node(below.Get(2 * i), below.Get((2 * i) + 1)));
                }

                tree._levels.Add(hashes);
            }
        }

        return tree;
    }

    /// <summary>
    /// This tree kept to its right edge: the same size, roots and appends, holding at most 255
    /// hashes per tile level; the rest is read from <see cref="FullTiles"/>, so every full tile of
    /// this size must have been written first.
    /// </summary>
    public MerkleTree ToRightEdge()
    {
        var partials = new List<byte[]>();
        for (int k = 0; k == 0 || (8 * k < 63 && (Size >> (8 * k)) > 0); k++)
        {
            long count = Size >> (8 * k);
            partials.Add(Tile(k, count / TileWriter.Width, (int)(count % TileWriter.Width)));
        }

        return FromRightEdge(Size, partials, FullTiles);
    }

    public void Append(ReadOnlySpan<byte> leafHash)
    {
        _levels[0].Add(leafHash);
        int level = 0;
        // A level whose count just became even completed a parent.
        while (_levels[level].Count % 2 == 0)
        {
            long count = _levels[level].Count;
            byte[] parent = MerkleHash.Node(_levels[level].Get(count - 2), _levels[level].Get(count - 1));
            if (_levels.Count == level + 1)
            {
                _levels.Add(new HashLevel());
            }

            _levels[level + 1].Add(parent);
            level++;
        }
    }

    /// <summary>The leaf hash at <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> LeafHash(long index) => Stored(0, index);

    /// <summary>The hash of the complete subtree of 2^<paramref name="level"/> leaves starting at leaf index × 2^level.</summary>
    public ReadOnlySpan<byte> Stored(int level, long index) =>
        index < _levels[level].Base ? BeforeEdge(level, index) : _levels[level].Get(index);

    /// <summary>
    /// The tlog-tiles bytes of tile (<paramref name="tileLevel"/>, <paramref name="tileIndex"/>):
    /// its first <paramref name="width"/> hashes of height 8 × tile level, concatenated.
    /// </summary>
    public byte[] Tile(int tileLevel, long tileIndex, int width)
    {
        byte[] bytes = new byte[width * MerkleHash.Size];
        for (int i = 0; i < width; i++)
        {
            Stored(8 * tileLevel, (tileIndex * TileWriter.Width) + i).CopyTo(bytes.AsSpan(i * MerkleHash.Size));
        }

        return bytes;
    }

    /// <summary>Complete subtrees stored at <paramref name="level"/>.</summary>
    public long StoredCount(int level) => level < _levels.Count ? _levels[level].Count : 0;

    public byte[] Root(long size)
    {
        CheckSize(size);
        return size == 0 ? MerkleHash.EmptyRoot() : Range(0, size);
    }

    /// <summary>RFC 6962 §2.1.1 PATH(index, D[0:size]): from the leaf's sibling up to the root's child.</summary>
    public List<byte[]> InclusionProof(long index, long size)
    {
        CheckSize(size);
        if (index < 0 || index >= size)
        {
            throw new ArgumentOutOfRangeException(nameof(index), $"leaf {index} is not in a tree of size {size}");
        }

        var proof = new List<byte[]>();
        Path(index, 0, size, proof);
        return proof;
    }

    /// <summary>RFC 6962 §2.1.2 PROOF(first, D[0:second]).</summary>
    public List<byte[]> ConsistencyProof(long first, long second)
    {
        CheckSize(second);
        if (first < 0 || first > second)
        {
            throw new ArgumentOutOfRangeException(nameof(first), $"size {first} is not within 0..{second}");
        }

        var proof = new List<byte[]>();
        if (first > 0 && first < second)
        {
            SubProof(first, 0, second, complete: true, proof);
        }

        return proof;
    }

    /// <summary>The largest power of two smaller than <paramref name="n"/> (n ≥ 2): RFC 6962's split point.</summary>
    public static long Split(long n) => 1L << (63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)(n - 1)));

    private void Path(long index, long start, long n, List<byte[]> proof)
    {
        if (n == 1)
        {
            return;
        }

        long k = Split(n);
        if (index < k)
        {
            Path(index, start, k, proof);
            proof.Add(Range(start + k, n - k));
        }
        else
        {
            Path(index - k, start + k, n - k, proof);
            proof.Add(Range(start, k));
        }
    }

    private void SubProof(long m, long start, long n, bool complete, List<byte[]> proof)
    {
        if (m == n)
        {
            if (!complete)
            {
                proof.Add(Range(start, n));
            }

            return;
        }

        long k = Split(n);
        if (m <= k)
        {
            SubProof(m, start, k, complete, proof);
            proof.Add(Range(start + k, n - k));
        }
        else
        {
            SubProof(m - k, start + k, n - k, complete: false, proof);
            proof.Add(Range(start, k));
        }
    }

    /// <summary>MTH(D[start:start+n]) for n ≥ 1, from stored complete subtrees.</summary>
    private byte[] Range(long start, long n)
    {
        if ((n & (n - 1)) == 0 && start % n == 0)
        {
            int level = System.Numerics.BitOperations.Log2((ulong)n);
            return Stored(level, start / n).ToArray();
        }

        long k = Split(n);
        return MerkleHash.Node(Range(start, k), Range(start + k, n - k));
    }

    /// <summary>
    /// A stored hash before the in-memory edge: the root of the 2^(level mod 8) hashes of height
    /// 8 × (level / 8) under it, all in one full tile (the edge at each level is a multiple of 256
    /// at its tile level, so everything before it is in full tiles).
    /// </summary>
    private byte[] BeforeEdge(int level, long index)
    {
        if (FullTiles is null)
        {
            throw new InvalidOperationException($"hash {index} at level {level} is before this tree's right edge: load the whole log first");
        }

        int tileLevel = level / 8;
        int height = level % 8;
        long first = index << height;
        long tileIndex = first / TileWriter.Width;
        byte[] tile;
        if (_lastTile is { } last && last.Level == tileLevel && last.Index == tileIndex)
        {
            tile = last.Hashes;
        }
        else
        {
            tile = FullTiles(tileLevel, tileIndex);
            if (tile.Length != TileWriter.Width * MerkleHash.Size)
            {
                throw new IOException($"tile {TileWriter.TilePath(tileLevel, tileIndex)} holds {tile.Length} bytes, not {TileWriter.Width} hashes");
            }

            _lastTile = (tileLevel, tileIndex, tile);
        }

        int offset = (int)(first % TileWriter.Width);
        var hashes = new byte[1 << height][];
        for (int i = 0; i < hashes.Length; i++)
        {
            hashes[i] = tile.AsSpan((offset + i) * MerkleHash.Size, MerkleHash.Size).ToArray();
        }

        for (int width = hashes.Length; width > 1; width /= 2)
        {
            for (int i = 0; i < width / 2; i++)
            {
                hashes[i] = MerkleHash.Node(hashes[2 * i], hashes[(2 * i) + 1]);
            }
        }

        return hashes[0];
    }

    private void CheckSize(long size)
    {
        if (size < 0 || size > Size)
        {
            throw new ArgumentOutOfRangeException(nameof(size), $"size {size} is beyond the tree's {Size} leaves");
        }
    }

    /// <summary>
    /// One tree level's hashes from <see cref="Base"/> on (0 unless the tree was rebuilt from its
    /// right edge), in chunks of <see cref="PerChunk"/> (no huge array copies as the log grows).
    /// The last chunk starts small and doubles as it fills: a tree rebuilt from its right edge
    /// holds a few hashes on each of ~20 levels, and a full-size chunk per level was 20 MiB of
    /// zeroed memory for a million-record log before the daemon was ready (issue 16).
    /// </summary>
    private sealed class HashLevel(long first = 0)
    {
        internal const int PerChunk = 32768;
        internal const int FirstChunk = 64;
        private readonly List<byte[]> _chunks = [];

        public long Base { get; } = first;

        public long Count { get; private set; } = first;

        public void Add(ReadOnlySpan<byte> hash)
        {
            int offset = (int)((Count - Base) % PerChunk);
            if (offset == 0)
            {
                _chunks.Add(new byte[FirstChunk * MerkleHash.Size]);
            }
            else if (offset * MerkleHash.Size == _chunks[^1].Length)
            {
                byte[] grown = new byte[Math.Min(2 * offset, PerChunk) * MerkleHash.Size];
                _chunks[^1].CopyTo(grown, 0);
                _chunks[^1] = grown;
            }

            hash[..MerkleHash.Size].CopyTo(_chunks[^1].AsSpan(offset * MerkleHash.Size));
            Count++;
        }

        public ReadOnlySpan<byte> Get(long index)
        {
            if (index < Base)
            {
                throw new InvalidOperationException($"hash {index} is before this tree's right edge (from {Base}): load the whole log first");
            }

            long at = index - Base;
            return _chunks[(int)(at / PerChunk)].AsSpan((int)(at % PerChunk) * MerkleHash.Size, MerkleHash.Size);
        }
    }
}
