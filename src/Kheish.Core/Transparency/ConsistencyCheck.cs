using System.Text;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Transparency;

/// <summary>The outcome of checking the log against a checkpoint kept elsewhere.</summary>
internal sealed record ConsistencyReport(
    bool Ok,
    string Origin,
    long OldSize,
    string OldRoot,
    long NewSize,
    string? NewRoot,
    IReadOnlyList<string> Proof,
    string? FailureCode,
    string? Failure);

/// <summary>
/// Proves that the state root's log extends a checkpoint kept outside it: the kept checkpoint is
/// verified with the log key, the log is checked against its records and its own latest
/// checkpoint, and a consistency proof from the kept size to the latest checkpoint must verify.
/// A smaller log is a rollback; a log whose first leaves hash to another root is a fork.
/// </summary>
internal static class ConsistencyCheck
{
    public static Result<ConsistencyReport> Run(StateRoot root, byte[] publicKey, byte[] keptNote)
    {
        Checkpoint? kept = LogState.OpenCheckpoint(keptNote, publicKey, null, out string? error);
        if (kept is null)
        {
            return KheishError.BadRequest("invalid_checkpoint", $"the kept checkpoint does not verify with key {Convert.ToHexStringLower(publicKey)}: {error}");
        }

        LogState state = LogState.Load(root, publicKey);
        ConsistencyReport Fail(string code, string why, Checkpoint? current = null) =>
            new(false, kept.Origin, kept.Size, kept.RootHex, current?.Size ?? state.Tree.Size, current?.RootHex, [], code, why);

        if (state.Problem is { } problem)
        {
            return Fail("log_inconsistent", $"the transparency log does not match its records: {problem}");
        }

        if (state.Checkpoint is not { } current)
        {
            return Fail("rollback", $"rollback: this state root has no transparency log checkpoint, but the kept checkpoint covers {kept.Size} records");
        }

        if (!string.Equals(current.Origin, kept.Origin, StringComparison.Ordinal))
        {
            return Fail("origin_mismatch", $"the kept checkpoint is for log '{kept.Origin}', this state root's log is '{current.Origin}'", current);
        }

        if (current.Size < kept.Size)
        {
            return Fail("rollback", $"rollback: the log's latest checkpoint covers {current.Size} records, fewer than the kept checkpoint's {kept.Size} (a restored backup or removed records)", current);
        }

        List<byte[]> proof = state.Tree.ConsistencyProof(kept.Size, current.Size);
        if (!MerkleProof.VerifyConsistency(kept.Size, current.Size, proof, kept.RootHash, current.RootHash))
        {
            string actual = Convert.ToHexStringLower(state.Tree.Root(kept.Size));
            return Fail(
                "fork",
                $"fork: the kept checkpoint (size {kept.Size}, root {kept.RootHex}) is not a prefix of this log; this log's first {kept.Size} records have root {actual} (a restored backup that was then appended to, or a different history)",
                current);
        }

        return new ConsistencyReport(true, kept.Origin, kept.Size, kept.RootHex, current.Size, current.RootHex, proof.Select(Convert.ToBase64String).ToList(), null, null);
    }

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}
