using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Kheish.Core.Crypto;

namespace Kheish.Core.Transparency;

/// <summary>One signature line of a note: key name, 32-bit key ID, signature bytes.</summary>
internal sealed record NoteSignature(string Name, uint KeyId, byte[] Signature);

/// <summary>A key a note verifier trusts: name, key ID and Ed25519 public key (signature type 0x01).</summary>
internal sealed record NoteVerifierKey(string Name, uint KeyId, byte[] PublicKey)
{
    /// <summary>The C2SP verifier key string <c>name+hex(key ID)+base64(0x01 || key)</c>.</summary>
    public string Encoded => $"{Name}+{KeyId:x8}+{Convert.ToBase64String([SignedNote.Ed25519Type, .. PublicKey])}";

    public static NoteVerifierKey ForEd25519(string name, byte[] publicKey) => new(name, SignedNote.KeyId(name, SignedNote.Ed25519Type, publicKey), publicKey);

    /// <summary>Parses <c>name+hex8+base64(0x01||key)</c>; the key ID must be the one the name and key give.</summary>
    public static NoteVerifierKey? TryParse(string encoded)
    {
        string[] parts = encoded.Split('+');
        if (parts.Length != 3 || !SignedNote.IsValidName(parts[0]) || parts[1].Length != 8)
        {
            return null;
        }

        if (!uint.TryParse(parts[1], System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out uint keyId))
        {
            return null;
        }

        byte[] typed;
        try
        {
            typed = Convert.FromBase64String(parts[2]);
        }
        catch (FormatException)
        {
            return null;
        }

        if (typed.Length != 1 + Ed25519.PublicKeySize || typed[0] != SignedNote.Ed25519Type)
        {
            return null;
        }

        byte[] key = typed[1..];
        return SignedNote.KeyId(parts[0], SignedNote.Ed25519Type, key) == keyId ? new NoteVerifierKey(parts[0], keyId, key) : null;
    }
}

/// <summary>
/// C2SP signed-note: a text ending in a newline, a blank line, then lines
/// <c>— &lt;name&gt; base64(key ID || signature)</c>. Ed25519 key IDs are
/// SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian.
/// </summary>
internal static class SignedNote
{
    public const byte Ed25519Type = 0x01;
    public const byte CosignatureType = 0x04;

    /// <summary>More signatures than this and the note is refused (the spec asks for at least 16).</summary>
    public const int MaxSignatures = 100;

    public const int MaxNoteBytes = 1 << 20;

    private const string Dash = "\u2014 ";

    public static uint KeyId(string name, byte type, ReadOnlySpan<byte> publicKey)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        byte[] input = new byte[nameBytes.Length + 2 + publicKey.Length];
        nameBytes.CopyTo(input, 0);
        input[nameBytes.Length] = 0x0A;
        input[nameBytes.Length + 1] = type;
        publicKey.CopyTo(input.AsSpan(nameBytes.Length + 2));
        return BinaryPrimitives.ReadUInt32BigEndian(SHA256.HashData(input));
    }

    /// <summary>Non-empty, no Unicode space, no plus.</summary>
    public static bool IsValidName(string name) =>
        name.Length > 0 && !name.Any(c => char.IsWhiteSpace(c) || c == '+' || char.IsControl(c));

    /// <summary>The signature line for <paramref name="text"/> signed by <paramref name="key"/> under <paramref name="name"/>.</summary>
    public static string SignatureLine(string text, string name, Ed25519PrivateKey key)
    {
        byte[] signature = key.Sign(Encoding.UTF8.GetBytes(text));
        byte[] blob = new byte[4 + signature.Length];
        BinaryPrimitives.WriteUInt32BigEndian(blob, KeyId(name, Ed25519Type, key.PublicKey));
        signature.CopyTo(blob, 4);
        return $"{Dash}{name} {Convert.ToBase64String(blob)}\n";
    }

    public static string Sign(string text, string name, Ed25519PrivateKey key)
    {
        CheckText(text);
        return text + "\n" + SignatureLine(text, name, key);
    }

    /// <summary>Splits a note into its text and signatures; null with a reason when it is malformed.</summary>
    public static (string Text, List<NoteSignature> Signatures)? TryParse(ReadOnlySpan<byte> note, out string? error)
    {
        error = null;
        if (note.Length > MaxNoteBytes)
        {
            error = $"the note is larger than {MaxNoteBytes} bytes";
            return null;
        }

        string s;
        try
        {
            s = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(note);
        }
        catch (DecoderFallbackException)
        {
            error = "the note is not valid UTF-8";
            return null;
        }

        if (s.Any(c => c < 0x20 && c != '\n'))
        {
            error = "the note contains a control character other than newline";
            return null;
        }

        int split = s.LastIndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0 || !s.EndsWith('\n'))
        {
            error = "the note has no blank line before its signatures, or does not end in a newline";
            return null;
        }

        string text = s[..(split + 1)];
        string[] lines = s[(split + 2)..^1].Split('\n');
        if (lines.Length > MaxSignatures)
        {
            error = $"the note has more than {MaxSignatures} signatures";
            return null;
        }

        var signatures = new List<NoteSignature>(lines.Length);
        foreach (string line in lines)
        {
            if (!line.StartsWith(Dash, StringComparison.Ordinal))
            {
                error = "a signature line does not start with an em dash and a space";
                return null;
            }

            string[] parts = line[Dash.Length..].Split(' ');
            if (parts.Length != 2 || !IsValidName(parts[0]))
            {
                error = "a signature line is not '— <key name> <base64 signature>'";
                return null;
            }

            byte[] blob;
            try
            {
                blob = Convert.FromBase64String(parts[1]);
            }
            catch (FormatException)
            {
                error = $"the signature of {parts[0]} is not base64";
                return null;
            }

            if (blob.Length < 5 || Convert.ToBase64String(blob) != parts[1])
            {
                error = $"the signature of {parts[0]} is too short or not canonical base64";
                return null;
            }

            signatures.Add(new NoteSignature(parts[0], BinaryPrimitives.ReadUInt32BigEndian(blob), blob[4..]));
        }

        return (text, signatures);
    }

    /// <summary>
    /// Opens a note: the text when a signature by one of <paramref name="keys"/> verifies. Lines by
    /// unknown keys (name or ID differ) are ignored; a known key's bad signature rejects the note.
    /// </summary>
    public static string? Open(ReadOnlySpan<byte> note, IReadOnlyList<NoteVerifierKey> keys, out string? error)
    {
        if (TryParse(note, out error) is not { } parsed)
        {
            return null;
        }

        byte[] message = Encoding.UTF8.GetBytes(parsed.Text);
        bool verified = false;
        foreach (NoteSignature sig in parsed.Signatures)
        {
            NoteVerifierKey? key = keys.FirstOrDefault(k => k.KeyId == sig.KeyId && string.Equals(k.Name, sig.Name, StringComparison.Ordinal));
            if (key is null)
            {
                continue;
            }

            if (!Ed25519.Verify(key.PublicKey, message, sig.Signature))
            {
                error = $"the signature by {sig.Name} ({sig.KeyId:x8}) does not verify: the note was changed or signed by another key";
                return null;
            }

            verified = true;
        }

        if (!verified)
        {
            error = "no signature by a trusted key (" + string.Join(", ", keys.Select(k => $"{k.Name} {k.KeyId:x8}")) + ")";
            return null;
        }

        return parsed.Text;
    }

    private static void CheckText(string text)
    {
        if (text.Length == 0 || !text.EndsWith('\n') || text.Any(c => c < 0x20 && c != '\n'))
        {
            throw new ArgumentException("a note text is non-empty, ends in a newline and has no control characters", nameof(text));
        }
    }
}
