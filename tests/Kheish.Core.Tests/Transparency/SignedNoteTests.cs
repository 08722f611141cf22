using System.Text;
using Kheish.Core.Crypto;
using Kheish.Core.Transparency;

namespace Kheish.Core.Tests.Transparency;

/// <summary>
/// The signed-note example of Go's golang.org/x/mod/sumdb/note (the reference implementation of
/// C2SP signed-note), used as data, and our own notes and checkpoints.
/// </summary>
public sealed class SignedNoteTests
{
    private const string PeterKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    private const string EnochKey = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    private const string PeterText = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    private const string PeterNote = PeterText + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    private static NoteVerifierKey Peter => NoteVerifierKey.TryParse(PeterKey)!;

    [Test]
    public async Task The_reference_verifier_key_parses_and_its_key_id_is_sha256_of_name_newline_type_key()
    {
        NoteVerifierKey? key = NoteVerifierKey.TryParse(PeterKey);

        await Assert.That(key).IsNotNull();
        await Assert.That(key!.KeyId).IsEqualTo(0xc74f20a3u);
        await Assert.That(SignedNote.KeyId("PeterNeumann", SignedNote.Ed25519Type, key.PublicKey)).IsEqualTo(0xc74f20a3u);
        await Assert.That(key.Encoded).IsEqualTo(PeterKey);
    }

    [Test]
    public async Task A_verifier_key_whose_id_does_not_match_its_name_and_key_is_refused()
    {
        await Assert.That(NoteVerifierKey.TryParse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")).IsNull();
        await Assert.That(NoteVerifierKey.TryParse("PeterNeumann2+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")).IsNull();
    }

    [Test]
    public async Task The_reference_note_opens_with_its_key()
    {
        string? text = SignedNote.Open(Encoding.UTF8.GetBytes(PeterNote), [Peter], out string? error);

        await Assert.That(error).IsNull();
        await Assert.That(text).IsEqualTo(PeterText);
    }

    [Test]
    public async Task A_changed_line_is_rejected()
    {
        string changed = PeterNote.Replace("answer", "Answer", StringComparison.Ordinal);

        await Assert.That(SignedNote.Open(Encoding.UTF8.GetBytes(changed), [Peter], out string? error)).IsNull();
        await Assert.That(error).Contains("does not verify");
    }

    [Test]
    public async Task A_note_signed_by_an_unknown_key_is_rejected()
    {
        NoteVerifierKey enoch = NoteVerifierKey.TryParse(EnochKey)!;

        await Assert.That(SignedNote.Open(Encoding.UTF8.GetBytes(PeterNote), [enoch], out string? error)).IsNull();
        await Assert.That(error).Contains("no signature by a trusted key");
    }

    [Test]
    public async Task A_signature_line_with_a_wrong_key_id_is_not_taken_for_the_key()
    {
        byte[] blob = Convert.FromBase64String("x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=");
        blob[3] ^= 1;
        string note = PeterText + "\n\u2014 PeterNeumann " + Convert.ToBase64String(blob) + "\n";

        await Assert.That(SignedNote.Open(Encoding.UTF8.GetBytes(note), [Peter], out string? error)).IsNull();
        await Assert.That(error).Contains("no signature by a trusted key");
    }

    [Test]
    public async Task Malformed_notes_are_rejected_with_a_reason()
    {
        string[] bad =
        [
            PeterText + "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
            PeterNote.Replace("\u2014", "--", StringComparison.Ordinal),
            PeterNote.TrimEnd('\n'),
            PeterNote.Replace("cryptography", "crypto\tgraphy", StringComparison.Ordinal),
        ];
        foreach (string note in bad)
        {
            await Assert.That(SignedNote.Open(Encoding.UTF8.GetBytes(note), [Peter], out string? error)).IsNull();
            await Assert.That(error).IsNotNull();
        }
    }

    [Test]
    public async Task Our_checkpoint_note_round_trips_and_a_tampered_one_fails()
    {
        using Ed25519PrivateKey key = Ed25519PrivateKey.Generate();
        var checkpoint = new Checkpoint("kheish-daemon/" + key.PublicKeyHex[..8], 42, MerkleHash.Leaf([1, 2, 3]));
        string note = SignedNote.Sign(checkpoint.Text, checkpoint.Origin, key);
        NoteVerifierKey verifier = NoteVerifierKey.ForEd25519(checkpoint.Origin, key.PublicKey);

        Checkpoint? opened = Checkpoint.Open(Encoding.UTF8.GetBytes(note), [verifier], out string? error);
        await Assert.That(error).IsNull();
        await Assert.That(opened!.Size).IsEqualTo(42);
        await Assert.That(opened.RootHex).IsEqualTo(checkpoint.RootHex);
        await Assert.That(note).StartsWith($"{checkpoint.Origin}\n42\n{Convert.ToBase64String(checkpoint.RootHash)}\n\n\u2014 {checkpoint.Origin} ");

        string tampered = note.Replace("\n42\n", "\n43\n", StringComparison.Ordinal);
        await Assert.That(Checkpoint.Open(Encoding.UTF8.GetBytes(tampered), [verifier], out _)).IsNull();
    }
}
