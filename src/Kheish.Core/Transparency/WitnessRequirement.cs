using System.Text;
using Kheish.Core.Errors;

namespace Kheish.Core.Transparency;

/// <summary>One <c>--witness-key</c>: an optional key name and the witness's Ed25519 public key.</summary>
internal sealed record WitnessKey(string? Name, byte[] PublicKey)
{
    public string Label => $"{Name ?? "witness"} ({Convert.ToHexStringLower(PublicKey)[..16]}...)";
}

/// <summary>
/// What <c>audit verify-proof --witness-key ... --witness-quorum N</c> requires of a receipt's
/// checkpoint: at least N valid tlog-cosignature lines, each by a different given key.
/// </summary>
internal sealed record WitnessRequirement(IReadOnlyList<WitnessKey> Keys, int Quorum)
{
    public const string Code = "witness_cosignatures_missing";

    /// <summary>Parses <c>[name=]hex</c> values; the quorum defaults to all of them.</summary>
    public static Result<WitnessRequirement> Parse(IReadOnlyList<string> values, int? quorum)
    {
        var keys = new List<WitnessKey>();
        foreach (string value in values)
        {
            int eq = value.LastIndexOf('=');
            string? name = eq < 0 ? null : value[..eq];
            string hex = eq < 0 ? value : value[(eq + 1)..];
            if (name is not null && !SignedNote.IsValidName(name))
            {
                return KheishError.BadRequest("invalid_witness_key", $"--witness-key '{value}': the key name '{name}' is empty or has a space, '+' or control character");
            }

            if (hex.Length != 64 || LogState.ParsePublicKey(hex) is not { } key)
            {
                return KheishError.BadRequest("invalid_witness_key", $"--witness-key '{value}' is not [<key name>=]<64 hex characters of an Ed25519 public key>");
            }

            if (keys.Any(k => k.PublicKey.AsSpan().SequenceEqual(key)))
            {
                return KheishError.BadRequest("invalid_witness_key", $"--witness-key '{value}': that key is given twice");
            }

            keys.Add(new WitnessKey(name, key));
        }

        int n = quorum ?? keys.Count;
        if (n < 0 || n > keys.Count)
        {
            return KheishError.BadRequest("invalid_witness_quorum", $"--witness-quorum {n} must be between 0 and the number of --witness-key options ({keys.Count})");
        }

        return new WitnessRequirement(keys, n);
    }

    /// <summary>The labels of the keys whose cosignature verifies over the note's text; an error naming the missing or invalid ones when fewer than the quorum do.</summary>
    public Result<IReadOnlyList<string>> Check(string checkpointNote)
    {
        if (Keys.Count == 0)
        {
            return Array.Empty<string>();
        }

        if (SignedNote.TryParse(Encoding.UTF8.GetBytes(checkpointNote), out string? error) is not { } note)
        {
            return KheishError.BadRequest(Code, $"the checkpoint note is malformed: {error}");
        }

        var valid = new List<string>();
        var problems = new List<string>();
        foreach (WitnessKey key in Keys)
        {
            if (Cosignature.FindValid(note.Text, note.Signatures, key.Name, key.PublicKey) is { } sig)
            {
                valid.Add($"{sig.Name} ({Convert.ToHexStringLower(key.PublicKey)[..16]}...)");
            }
            else
            {
                problems.Add(Cosignature.HasLineFor(note.Signatures, key.Name, key.PublicKey)
                    ? $"{key.Label}: its cosignature line does not verify (changed, or over another checkpoint)"
                    : $"{key.Label}: no cosignature line");
            }
        }

        return valid.Count >= Quorum
            ? valid
            : KheishError.BadRequest(Code, $"{valid.Count} of the {Quorum} required witness cosignatures verify; " + string.Join("; ", problems));
    }
}
