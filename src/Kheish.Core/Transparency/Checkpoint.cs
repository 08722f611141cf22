using System.Globalization;
using System.Text;

namespace Kheish.Core.Transparency;

/// <summary>A C2SP tlog-checkpoint body: origin, tree size, root hash (extension lines are kept, not interpreted).</summary>
internal sealed record Checkpoint(string Origin, long Size, byte[] RootHash)
{
    public string Text => $"{Origin}\n{Size.ToString(CultureInfo.InvariantCulture)}\n{Convert.ToBase64String(RootHash)}\n";

    public string RootHex => Convert.ToHexStringLower(RootHash);

    /// <summary>Parses a checkpoint note's text (what <see cref="SignedNote.Open"/> returns).</summary>
    public static Checkpoint? TryParse(string text, out string? error)
    {
        error = null;
        string[] lines = text.Split('\n');
        if (lines.Length < 4 || lines[^1].Length != 0)
        {
            error = "a checkpoint has an origin line, a size line and a root hash line";
            return null;
        }

        if (lines[0].Length == 0)
        {
            error = "the checkpoint's origin line is empty";
            return null;
        }

        if (lines[1].Length == 0 || lines[1].Length > 19 || !lines[1].All(char.IsAsciiDigit) || (lines[1].Length > 1 && lines[1][0] == '0')
            || !long.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out long size))
        {
            error = "the checkpoint's size line is not a decimal number without leading zeroes";
            return null;
        }

        byte[] root;
        try
        {
            root = Convert.FromBase64String(lines[2]);
        }
        catch (FormatException)
        {
            error = "the checkpoint's root hash is not base64";
            return null;
        }

        if (root.Length != MerkleHash.Size || Convert.ToBase64String(root) != lines[2])
        {
            error = "the checkpoint's root hash is not a canonical base64 SHA-256 hash";
            return null;
        }

        return new Checkpoint(lines[0], size, root);
    }

    /// <summary>Verifies a signed checkpoint note with <paramref name="keys"/> and parses it.</summary>
    public static Checkpoint? Open(ReadOnlySpan<byte> note, IReadOnlyList<NoteVerifierKey> keys, out string? error)
    {
        string? text = SignedNote.Open(note, keys, out error);
        return text is null ? null : TryParse(text, out error);
    }

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}
