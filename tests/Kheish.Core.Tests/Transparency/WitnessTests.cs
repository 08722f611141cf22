using System.Buffers.Binary;
using System.Text;
using Kheish.Core.Crypto;
using Kheish.Core.Transparency;

namespace Kheish.Core.Tests.Transparency;

/// <summary>The C2SP tlog-cosignature v1 format and the tlog-witness add-checkpoint decisions.</summary>
public sealed class WitnessTests : IDisposable
{
    private const string Origin = "example.test/log";
    private readonly string _dir = Directory.CreateTempSubdirectory("kheish-witness-").FullName;
    private readonly Ed25519PrivateKey _logKey = Ed25519PrivateKey.Generate();

    public void Dispose()
    {
        _logKey.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static MerkleTree Tree(int size, string tag = "")
    {
        var tree = new MerkleTree();
        for (int i = 0; i < size; i++)
        {
            tree.Append(MerkleHash.Leaf(Encoding.UTF8.GetBytes($"leaf {i}{tag}")));
        }

        return tree;
    }

    private string Note(MerkleTree tree, long size) => SignedNote.Sign(new Checkpoint(Origin, size, tree.Root(size)).Text, Origin, _logKey);

    private Witness Open() => Witness.Open(_dir, "witness.test/w1", new Dictionary<string, byte[]> { [Origin] = _logKey.PublicKey });

    private static WitnessAnswer Add(Witness w, MerkleTree tree, long oldSize, long size, string note) =>
        w.AddCheckpoint(Encoding.UTF8.GetBytes(Witness.Request(oldSize, oldSize == 0 ? [] : tree.ConsistencyProof(oldSize, size), note)));

    [Test]
    public async Task A_cosignature_signs_the_v1_header_the_timestamp_and_the_checkpoint_text_under_a_0x04_key_id()
    {
        using Ed25519PrivateKey key = Ed25519PrivateKey.Generate();
        string text = new Checkpoint(Origin, 5, Tree(5).Root(5)).Text;
        string line = Cosignature.Line(text, "witness.test/w1", key, 1679315147);

        byte[] blob = Convert.FromBase64String(line.Split(' ')[2].TrimEnd('\n'));
        await Assert.That(line.StartsWith("\u2014 witness.test/w1 ", StringComparison.Ordinal)).IsTrue();
        await Assert.That(blob.Length).IsEqualTo(4 + 8 + 64);
        await Assert.That(BinaryPrimitives.ReadUInt32BigEndian(blob)).IsEqualTo(SignedNote.KeyId("witness.test/w1", 0x04, key.PublicKey));
        await Assert.That(BinaryPrimitives.ReadUInt64BigEndian(blob.AsSpan(4))).IsEqualTo(1679315147ul);
        byte[] message = Encoding.UTF8.GetBytes("cosignature/v1\ntime 1679315147\n" + text);
        await Assert.That(Ed25519.Verify(key.PublicKey, message, blob.AsSpan(12))).IsTrue();

        var parsed = SignedNote.TryParse(Encoding.UTF8.GetBytes(text + "\n" + line), out _)!.Value;
        await Assert.That(Cosignature.Verify(text, parsed.Signatures, "witness.test/w1", key.PublicKey)).IsEqualTo(1679315147L);
        string other = new Checkpoint(Origin, 6, Tree(6).Root(6)).Text;
        await Assert.That(Cosignature.Verify(other, parsed.Signatures, "witness.test/w1", key.PublicKey)).IsNull();
        await Assert.That(Cosignature.Verify(text, parsed.Signatures, "witness.test/w2", key.PublicKey)).IsNull();
    }

    [Test]
    public async Task The_witness_cosigns_a_first_checkpoint_and_then_only_consistent_growth()
    {
        MerkleTree tree = Tree(120);
        using Witness w = Open();

        WitnessAnswer first = Add(w, tree, 0, 20, Note(tree, 20));
        await Assert.That(first.Status).IsEqualTo(200);
        var parsed = SignedNote.TryParse(Encoding.UTF8.GetBytes(Note(tree, 20) + first.Body), out _)!.Value;
        await Assert.That(Cosignature.Verify(new Checkpoint(Origin, 20, tree.Root(20)).Text, parsed.Signatures, w.Name, w.PublicKey)).IsNotNull();

        WitnessAnswer grown = Add(w, tree, 20, 120, Note(tree, 120));
        await Assert.That(grown.Status).IsEqualTo(200);
        await Assert.That(w.Latest(Origin)!.Size).IsEqualTo(120L);

        WitnessAnswer same = Add(w, tree, 120, 120, Note(tree, 120));
        await Assert.That(same.Status).IsEqualTo(200);
    }

    [Test]
    public async Task A_stale_old_size_gets_409_with_the_witness_size_as_text_x_tlog_size()
    {
        MerkleTree tree = Tree(50);
        using Witness w = Open();
        await Assert.That(Add(w, tree, 0, 30, Note(tree, 30)).Status).IsEqualTo(200);

        WitnessAnswer stale = Add(w, tree, 10, 50, Note(tree, 50));

        await Assert.That(stale.Status).IsEqualTo(409);
        await Assert.That(stale.ContentType).IsEqualTo("text/x.tlog.size");
        await Assert.That(stale.Body).IsEqualTo("30\n");
        await Assert.That(w.Latest(Origin)!.Size).IsEqualTo(30L);
    }

    [Test]
    public async Task A_rollback_then_append_is_refused_and_the_witness_state_is_unchanged()
    {
        MerkleTree original = Tree(120);
        using Witness w = Open();
        await Assert.That(Add(w, original, 0, 120, Note(original, 120)).Status).IsEqualTo(200);

        // Restored to 20 records, then 5 different ones appended: size 25 < 120.
        MerkleTree restored = Tree(20);
        for (int i = 0; i < 5; i++)
        {
            restored.Append(MerkleHash.Leaf(Encoding.UTF8.GetBytes($"new {i}")));
        }

        await Assert.That(Add(w, restored, 0, 25, Note(restored, 25)).Status).IsEqualTo(409);
        await Assert.That(w.AddCheckpoint(Encoding.UTF8.GetBytes(Witness.Request(120, [], Note(restored, 25)))).Status).IsEqualTo(400);

        // Same for a fork that grows past the witness's size: the proof from 120 cannot verify.
        MerkleTree fork = Tree(200, "fork");
        WitnessAnswer forked = Add(w, fork, 120, 200, Note(fork, 200));
        await Assert.That(forked.Status).IsEqualTo(422);

        MerkleTree sameSize = Tree(120, "fork");
        await Assert.That(Add(w, sameSize, 120, 120, Note(sameSize, 120)).Status).IsEqualTo(409);
        await Assert.That(w.Latest(Origin)!.RootHex).IsEqualTo(Convert.ToHexStringLower(original.Root(120)));
    }

    [Test]
    public async Task Unknown_origins_get_404_and_a_checkpoint_signed_by_another_key_gets_403()
    {
        MerkleTree tree = Tree(4);
        using Witness w = Open();
        using Ed25519PrivateKey other = Ed25519PrivateKey.Generate();

        string unknown = SignedNote.Sign(new Checkpoint("other.test/log", 4, tree.Root(4)).Text, "other.test/log", _logKey);
        await Assert.That(w.AddCheckpoint(Encoding.UTF8.GetBytes(Witness.Request(0, [], unknown))).Status).IsEqualTo(404);

        string forged = SignedNote.Sign(new Checkpoint(Origin, 4, tree.Root(4)).Text, Origin, other);
        await Assert.That(w.AddCheckpoint(Encoding.UTF8.GetBytes(Witness.Request(0, [], forged))).Status).IsEqualTo(403);
        await Assert.That(w.Latest(Origin)).IsNull();
    }

    [Test]
    public async Task The_witness_state_and_key_survive_a_restart()
    {
        MerkleTree tree = Tree(10);
        byte[] key;
        using (Witness w = Open())
        {
            key = w.PublicKey;
            await Assert.That(Add(w, tree, 0, 10, Note(tree, 10)).Status).IsEqualTo(200);
        }

        using Witness again = Open();
        await Assert.That(again.PublicKey).IsEquivalentTo(key, TUnit.Assertions.Enums.CollectionOrdering.Matching);
        await Assert.That(Add(again, tree, 0, 10, Note(tree, 10)).Body).IsEqualTo("10\n");
    }

    [Test]
    [Arguments("old 01\n\n")]
    [Arguments("new 1\n\n")]
    [Arguments("old 1\nnot-base64!\n\n")]
    [Arguments("old 1")]
    public async Task A_malformed_request_gets_400(string body)
    {
        using Witness w = Open();
        await Assert.That(w.AddCheckpoint(Encoding.UTF8.GetBytes(body)).Status).IsEqualTo(400);
    }
}

/// <summary>The log side: push with the 409 retry, against a real <see cref="Witness"/> behind an in-memory handler.</summary>
public sealed class WitnessClientTests : IDisposable
{
    private const string Origin = "example.test/log";
    private readonly string _dir = Directory.CreateTempSubdirectory("kheish-witness-client-").FullName;
    private readonly Ed25519PrivateKey _logKey = Ed25519PrivateKey.Generate();

    public void Dispose()
    {
        _logKey.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private sealed class InMemory(Witness witness) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            WitnessAnswer a = witness.AddCheckpoint(await request.Content!.ReadAsByteArrayAsync(cancellationToken));
            var content = new StringContent(a.Body);
            content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(a.ContentType);
            return new HttpResponseMessage((System.Net.HttpStatusCode)a.Status) { Content = content };
        }
    }

    private static MerkleTree Tree(int size, string tag = "")
    {
        var tree = new MerkleTree();
        for (int i = 0; i < size; i++)
        {
            tree.Append(MerkleHash.Leaf(Encoding.UTF8.GetBytes($"leaf {i}{tag}")));
        }

        return tree;
    }

    private string Note(MerkleTree tree, long size) => SignedNote.Sign(new Checkpoint(Origin, size, tree.Root(size)).Text, Origin, _logKey);

    [Test]
    public async Task A_log_that_forgot_the_witness_size_catches_up_from_the_409_and_a_fork_is_refused()
    {
        using Witness w = Witness.Open(_dir, "witness.test/w1", new Dictionary<string, byte[]> { [Origin] = _logKey.PublicKey });
        using var http = new HttpClient(new InMemory(w));
        var client = new WitnessClient(http, new Uri("http://witness.test/add-checkpoint"), w.Name, w.PublicKey);
        MerkleTree tree = Tree(40);

        WitnessPush first = await client.PushAsync(Note(tree, 10), tree.ConsistencyProof, 0, CancellationToken.None);
        await Assert.That(first.Failure).IsNull();
        await Assert.That(first.CosignatureLine).StartsWith("\u2014 witness.test/w1 ");

        // Believes the witness is at 0 (a restart without state): the 409 names 10, the retry from 10 succeeds.
        WitnessPush caughtUp = await client.PushAsync(Note(tree, 40), tree.ConsistencyProof, 0, CancellationToken.None);
        await Assert.That(caughtUp.Failure).IsNull();
        await Assert.That(caughtUp.WitnessSize).IsEqualTo(40L);

        MerkleTree fork = Tree(60, "fork");
        WitnessPush forked = await client.PushAsync(Note(fork, 60), fork.ConsistencyProof, 0, CancellationToken.None);
        await Assert.That(forked.CosignatureLine).IsNull();
        await Assert.That(forked.Failure!).Contains("HTTP 422");

        MerkleTree rolledBack = Tree(20, "fork");
        WitnessPush rollback = await client.PushAsync(Note(rolledBack, 20), rolledBack.ConsistencyProof, 0, CancellationToken.None);
        await Assert.That(rollback.CosignatureLine).IsNull();
        await Assert.That(rollback.Failure!).Contains("holds size 40");
    }
}
