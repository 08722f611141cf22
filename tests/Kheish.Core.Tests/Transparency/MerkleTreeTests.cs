using Kheish.Core.Transparency;

namespace Kheish.Core.Tests.Transparency;

/// <summary>
/// RFC 6962 test vectors as published by transparency-dev/merkle (testonly/constants.go and
/// proof/verify_test.go, used as data): leaf inputs, the root of every size 0..8, and their
/// inclusion and consistency proofs.
/// </summary>
public sealed class MerkleTreeTests
{
    private static readonly string[] LeafInputs = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

    private static readonly string[] Roots =
    [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    // (0-based leaf index, tree size, proof)
    private static readonly (long Index, long Size, string[] Proof)[] InclusionVectors =
    [
        (0, 1, []),
        (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
        (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
        (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    ];

    private static readonly (long First, long Second, string[] Proof)[] ConsistencyVectors =
    [
        (1, 1, []),
        (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
        (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
        (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
        (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    ];

    private static MerkleTree VectorTree()
    {
        var tree = new MerkleTree();
        foreach (string input in LeafInputs)
        {
            tree.Append(MerkleHash.Leaf(Convert.FromHexString(input)));
        }

        return tree;
    }

    private static MerkleTree Synthetic(int n)
    {
        var tree = new MerkleTree();
        for (int i = 0; i < n; i++)
        {
            tree.Append(MerkleHash.Leaf([(byte)i, (byte)(i * 7), 0x42]));
        }

        return tree;
    }

    /// <summary>A tree of <paramref name="n"/> leaves whose data is the leaf's index (8 bytes, little-endian).</summary>
    private static MerkleTree CountingTree(long n)
    {
        var tree = new MerkleTree();
        for (long i = 0; i < n; i++)
        {
            tree.Append(MerkleHash.Leaf(BitConverter.GetBytes(i)));
        }

        return tree;
    }

    private static string[] Hex(IEnumerable<byte[]> hashes) => hashes.Select(Convert.ToHexStringLower).ToArray();

    [Test]
    public async Task Roots_match_the_RFC_6962_vectors_for_every_size()
    {
        MerkleTree tree = VectorTree();
        for (int size = 0; size <= LeafInputs.Length; size++)
        {
            await Assert.That(Convert.ToHexStringLower(tree.Root(size))).IsEqualTo(Roots[size]);
        }
    }

    [Test]
    public async Task Inclusion_proofs_match_the_vectors_and_verify()
    {
        MerkleTree tree = VectorTree();
        foreach ((long index, long size, string[] expected) in InclusionVectors)
        {
            List<byte[]> proof = tree.InclusionProof(index, size);
            await Assert.That(Hex(proof)).IsEquivalentTo(expected, TUnit.Assertions.Enums.CollectionOrdering.Matching);
            byte[] leaf = MerkleHash.Leaf(Convert.FromHexString(LeafInputs[index]));
            await Assert.That(MerkleProof.VerifyInclusion(index, size, leaf, proof, Convert.FromHexString(Roots[size]))).IsTrue();
        }
    }

    [Test]
    public async Task Consistency_proofs_match_the_vectors_and_verify()
    {
        MerkleTree tree = VectorTree();
        foreach ((long first, long second, string[] expected) in ConsistencyVectors)
        {
            List<byte[]> proof = tree.ConsistencyProof(first, second);
            await Assert.That(Hex(proof)).IsEquivalentTo(expected, TUnit.Assertions.Enums.CollectionOrdering.Matching);
            await Assert.That(MerkleProof.VerifyConsistency(first, second, proof, Convert.FromHexString(Roots[first]), Convert.FromHexString(Roots[second]))).IsTrue();
        }
    }

    [Test]
    public async Task Every_inclusion_proof_verifies_and_a_wrong_index_leaf_hash_or_a_short_proof_does_not()
    {
        MerkleTree tree = Synthetic(70);
        int failures = 0;
        for (int n = 1; n <= 70; n++)
        {
            byte[] root = tree.Root(n);
            for (int i = 0; i < n; i++)
            {
                List<byte[]> proof = tree.InclusionProof(i, n);
                byte[] leaf = tree.LeafHash(i).ToArray();
                if (!MerkleProof.VerifyInclusion(i, n, leaf, proof, root))
                {
                    failures++;
                }

                if (n > 1 && MerkleProof.VerifyInclusion((i + 1) % n, n, leaf, proof, root))
                {
                    failures++;
                }

                if (proof.Count > 0 && MerkleProof.VerifyInclusion(i, n, leaf, proof.Take(proof.Count - 1).ToList(), root))
                {
                    failures++;
                }

                if (MerkleProof.VerifyInclusion(i, n, MerkleHash.Leaf([0xFF]), proof, root))
                {
                    failures++;
                }

                if (proof.Count > 0)
                {
                    var bad = proof.Select(p => p.ToArray()).ToList();
                    bad[^1][0] ^= 1;
                    if (MerkleProof.VerifyInclusion(i, n, leaf, bad, root))
                    {
                        failures++;
                    }
                }
            }
        }

        await Assert.That(failures).IsEqualTo(0);
    }

    [Test]
    public async Task Every_consistency_proof_verifies_and_a_forked_root_does_not()
    {
        MerkleTree tree = Synthetic(40);
        MerkleTree fork = Synthetic(40);
        int failures = 0;
        for (int n = 1; n <= 40; n++)
        {
            for (int m = 1; m <= n; m++)
            {
                List<byte[]> proof = tree.ConsistencyProof(m, n);
                if (!MerkleProof.VerifyConsistency(m, n, proof, tree.Root(m), tree.Root(n)))
                {
                    failures++;
                }

                byte[] wrongOld = MerkleHash.Node(tree.Root(m), tree.Root(m));
                if (MerkleProof.VerifyConsistency(m, n, proof, wrongOld, tree.Root(n)))
                {
                    failures++;
                }
            }
        }

        // A tree that differs in one early leaf is not an extension of the original.
        var other = new MerkleTree();
        for (int i = 0; i < 40; i++)
        {
            other.Append(i == 3 ? MerkleHash.Leaf([0xEE]) : fork.LeafHash(i));
        }

        List<byte[]> forkProof = other.ConsistencyProof(10, 40);
        await Assert.That(MerkleProof.VerifyConsistency(10, 40, forkProof, tree.Root(10), other.Root(40))).IsFalse();
        await Assert.That(failures).IsEqualTo(0);
    }

    [Test]
    [Arguments(256L)]
    [Arguments(1000L)]
    [Arguments(65536L)]
    [Arguments(70001L)]
    public async Task A_tree_kept_to_its_right_edge_reads_older_hashes_from_full_tiles_and_proves_what_the_whole_tree_proves(long size)
    {
        MerkleTree reference = CountingTree(size + 600);

        var tilesRead = new HashSet<(int, long)>();
        byte[] FullTile(int level, long index)
        {
            tilesRead.Add((level, index));
            return Enumerable.Range(0, TileWriter.Width).SelectMany(i => reference.Stored(8 * level, (index * TileWriter.Width) + i).ToArray()).ToArray();
        }

        var whole = new MerkleTree { FullTiles = FullTile };
        for (long i = 0; i < size; i++)
        {
            whole.Append(reference.LeafHash(i));
        }

        MerkleTree edge = whole.ToRightEdge();
        await Assert.That(edge.HashesHeld < 3 * TileWriter.Width).IsTrue().Because($"{edge.HashesHeld} hashes held");
        var wrong = new List<string>();
        void Compare(long s)
        {
            if (!edge.Root(s).AsSpan().SequenceEqual(reference.Root(s)))
            {
                wrong.Add($"root {s}");
            }

            foreach (long i in new long[] { 0, 1, 255, 256, s / 3, s / 2, s - 2, s - 1 }.Where(i => i >= 0 && i < s).Distinct())
            {
                if (!Hex(edge.InclusionProof(i, s)).SequenceEqual(Hex(reference.InclusionProof(i, s))))
                {
                    wrong.Add($"inclusion {i} in {s}");
                }
            }

            foreach (long first in new long[] { 1, 7, 256, s / 2, s - 1 }.Where(f => f >= 1 && f <= s).Distinct())
            {
                if (!Hex(edge.ConsistencyProof(first, s)).SequenceEqual(Hex(reference.ConsistencyProof(first, s))))
                {
                    wrong.Add($"consistency {first} to {s}");
                }
            }
        }

        foreach (long s in new long[] { 1, 255, 256, 257, size / 2, size - 1, size }.Where(s => s >= 1 && s <= size).Distinct())
        {
            Compare(s);
        }

        // It keeps appending like the whole tree.
        for (long i = size; i < size + 600; i++)
        {
            edge.Append(reference.LeafHash(i));
        }

        Compare(size + 600);
        await Assert.That(wrong).IsEmpty();
        await Assert.That(tilesRead).IsNotEmpty();
        await Assert.That(() => new MerkleTree().ToRightEdge()).ThrowsNothing();
        var noTiles = new MerkleTree();
        for (int i = 0; i < 300; i++)
        {
            noTiles.Append(reference.LeafHash(i));
        }

        await Assert.That(() => noTiles.ToRightEdge().Root(100)).Throws<InvalidOperationException>();
    }

    [Test]
    public async Task Hashes_stored_across_chunk_growth_and_chunk_boundaries_read_back_and_give_the_reference_roots()
    {
        // Level 0 of 40,000 leaves crosses the first chunk's doublings (64, 128, ...) and the
        // 32,768-hash chunk boundary; the roots are checked against a recursive RFC 6962 MTH.
        const int n = 40_000;
        var leaves = new byte[n][];
        var tree = new MerkleTree();
        for (int i = 0; i < n; i++)
        {
            leaves[i] = MerkleHash.Leaf(BitConverter.GetBytes(i * 31L));
            tree.Append(leaves[i]);
        }

        var misread = new List<int>();
        for (int i = 0; i < n; i++)
        {
            if (!tree.LeafHash(i).SequenceEqual(leaves[i]))
            {
                misread.Add(i);
            }
        }

        await Assert.That(misread).IsEmpty();
        foreach (long size in new long[] { 1, 63, 64, 65, 128, 129, 4097, 32_767, 32_768, 32_769, 40_000 })
        {
            await Assert.That(Convert.ToHexStringLower(tree.Root(size))).IsEqualTo(Convert.ToHexStringLower(ReferenceRoot(leaves.AsSpan(0, (int)size))));
        }
    }

    private static byte[] ReferenceRoot(ReadOnlySpan<byte[]> leaves)
    {
        if (leaves.Length == 1)
        {
            return leaves[0];
        }

        int k = 1;
        while (k * 2 < leaves.Length)
        {
            k *= 2;
        }

        return MerkleHash.Node(ReferenceRoot(leaves[..k]), ReferenceRoot(leaves[k..]));
    }

    [Test]
    [Arguments(0L)]
    [Arguments(1L)]
    [Arguments(255L)]
    [Arguments(256L)]
    [Arguments(257L)]
    [Arguments(1000L)]
    [Arguments(65535L)]
    [Arguments(65536L)]
    [Arguments(66001L)]
    public async Task A_tree_rebuilt_from_its_right_edge_has_the_same_roots_and_tiles_as_the_whole_tree(long size)
    {
        MerkleTree whole = CountingTree(size);
        var partials = new List<byte[]>();
        for (int k = 0; k == 0 || (size >> (8 * k)) > 0; k++)
        {
            long count = size >> (8 * k);
            long width = count % TileWriter.Width;
            partials.Add(Enumerable.Range(0, (int)width).SelectMany(i => whole.Stored(8 * k, count - width + i).ToArray()).ToArray());
        }

        MerkleTree edge = MerkleTree.FromRightEdge(size, partials);
        await Assert.That(edge.Root(size).AsSpan().SequenceEqual(whole.Root(size))).IsTrue();

        // Both keep growing alike, across tile boundaries.
        var wrong = new List<long>();
        for (long i = size; i < size + 600; i++)
        {
            byte[] leaf = MerkleHash.Leaf(BitConverter.GetBytes(i));
            whole.Append(leaf);
            edge.Append(leaf);
            if (!edge.Root(i + 1).AsSpan().SequenceEqual(whole.Root(i + 1)))
            {
                wrong.Add(i + 1);
            }
        }

        await Assert.That(wrong).IsEmpty();
        await Assert.That(edge.Size).IsEqualTo(whole.Size);
    }
}
