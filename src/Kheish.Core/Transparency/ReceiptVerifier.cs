using System.Text;
using Kheish.Core.Audit;
using Kheish.Core.Errors;

namespace Kheish.Core.Transparency;

/// <summary>What a verified receipt proves: this record is leaf <see cref="Index"/> of the checkpointed tree.</summary>
internal sealed record ReceiptCheck(LedgerRecord Record, long Index, Checkpoint Checkpoint, string CheckpointNote);

/// <summary>
/// Verifies a tlog-proof receipt offline with only the log's public key: the checkpoint note's
/// signature (key name = its origin, or the pinned <c>origin</c>), the inclusion proof of
/// SHA-256(0x00 || extra) in that tree, and the record line in the extra data (canonical, its
/// hash, and its own Ed25519 signature by the same key).
/// </summary>
internal static class ReceiptVerifier
{
    public const string Code = "receipt_invalid";

    public static Result<ReceiptCheck> Verify(string receipt, byte[] publicKey, string? origin)
    {
        TlogProof? proof = TlogProof.TryParse(receipt, out string? error);
        if (proof is null)
        {
            return Invalid($"not a tlog-proof: {error}");
        }

        Checkpoint? checkpoint = LogState.OpenCheckpoint(Encoding.UTF8.GetBytes(proof.CheckpointNote), publicKey, origin, out error);
        if (checkpoint is null)
        {
            return Invalid($"the checkpoint does not verify: {error}");
        }

        if (proof.Extra is null)
        {
            return Invalid("the receipt carries no record line (extra data)");
        }

        if (proof.Index >= checkpoint.Size)
        {
            return Invalid($"index {proof.Index} is not in the checkpointed tree of size {checkpoint.Size}");
        }

        if (!MerkleProof.VerifyInclusion(proof.Index, checkpoint.Size, MerkleHash.Leaf(proof.Extra), proof.Proof, checkpoint.RootHash))
        {
            return Invalid($"the inclusion proof does not lead from the record line at index {proof.Index} to the checkpoint's root");
        }

        if (!LedgerChecks.TryParseRecord(proof.Extra, out LedgerRecord? record, out VerifyFailure? failure))
        {
            return Invalid($"the extra data is not a ledger record line: {failure!.Reason}");
        }

        using var checks = new LedgerChecks();
        if (checks.CheckRecord(record!, proof.Index, BucketName.For(record!), Convert.ToHexStringLower(publicKey)) is { } bad)
        {
            return Invalid($"the record does not verify: {bad.Reason}");
        }

        return new ReceiptCheck(record!, proof.Index, checkpoint, proof.CheckpointNote);
    }

    private static KheishError Invalid(string message) => KheishError.BadRequest(Code, message);
}
