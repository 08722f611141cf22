using System.Globalization;
using System.Text;

namespace Kheish.Core.Transparency;

/// <summary>
/// A C2SP tlog-proof: <c>c2sp.org/tlog-proof@v1</c>, optional <c>extra &lt;base64&gt;</c>,
/// <c>index N</c>, the inclusion proof (one base64 hash a line), a blank line, then the
/// checkpoint note verbatim. Here the extra data is the ledger record line itself.
/// </summary>
internal sealed record TlogProof(byte[]? Extra, long Index, IReadOnlyList<byte[]> Proof, string CheckpointNote)
{
    public const string Header = "c2sp.org/tlog-proof@v1";

    public string Format()
    {
        var sb = new StringBuilder();
        sb.Append(Header).Append('\n');
        if (Extra is not null)
        {
            sb.Append("extra ").Append(Convert.ToBase64String(Extra)).Append('\n');
        }

        sb.Append("index ").Append(Index.ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (byte[] hash in Proof)
        {
            sb.Append(Convert.ToBase64String(hash)).Append('\n');
        }

        sb.Append('\n').Append(CheckpointNote);
        return sb.ToString();
    }

    public static TlogProof? TryParse(string text, out string? error)
    {
        error = null;
        int pos = 0;
        string? Next()
        {
            int nl = text.IndexOf('\n', pos);
            if (nl < 0)
            {
                return null;
            }

            string line = text[pos..nl];
            pos = nl + 1;
            return line;
        }

        if (Next() != Header)
        {
            error = $"the first line is not '{Header}'";
            return null;
        }

        string? line = Next();
        byte[]? extra = null;
        if (line is not null && line.StartsWith("extra ", StringComparison.Ordinal))
        {
            try
            {
                extra = Convert.FromBase64String(line["extra ".Length..]);
            }
            catch (FormatException)
            {
                error = "the extra line is not base64";
                return null;
            }

            if (Convert.ToBase64String(extra) != line["extra ".Length..])
            {
                error = "the extra line is not canonical base64";
                return null;
            }

            line = Next();
        }

        if (line is null || !line.StartsWith("index ", StringComparison.Ordinal)
            || line.Length == "index ".Length || !line["index ".Length..].All(char.IsAsciiDigit)
            || (line.Length > "index ".Length + 1 && line["index ".Length] == '0')
            || !long.TryParse(line["index ".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out long index))
        {
            error = "missing or malformed 'index N' line";
            return null;
        }

        var proof = new List<byte[]>();
        while (true)
        {
            line = Next();
            if (line is null)
            {
                error = "the proof ends before the blank line and the checkpoint";
                return null;
            }

            if (line.Length == 0)
            {
                break;
            }

            byte[] hash;
            try
            {
                hash = Convert.FromBase64String(line);
            }
            catch (FormatException)
            {
                error = $"inclusion proof line {proof.Count + 1} is not base64";
                return null;
            }

            if (hash.Length != MerkleHash.Size || Convert.ToBase64String(hash) != line)
            {
                error = $"inclusion proof line {proof.Count + 1} is not a canonical base64 SHA-256 hash";
                return null;
            }

            proof.Add(hash);
            if (proof.Count > 64)
            {
                error = "the inclusion proof has more than 64 hashes";
                return null;
            }
        }

        return new TlogProof(extra, index, proof, text[pos..]);
    }
}
