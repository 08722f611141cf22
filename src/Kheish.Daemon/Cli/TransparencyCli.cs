using System.Globalization;
using System.Text;
using Kheish.Core.Audit;
using Kheish.Core.Errors;
using Kheish.Core.Storage;
using Kheish.Core.Transparency;

namespace Kheish.Daemon.Cli;

/// <summary>The CLI side of the transparency log, shared by <c>runs prove|verify</c> and <c>audit verify-proof|consistency</c>.</summary>
internal static class TransparencyCli
{
    /// <summary>The log key: the pinned hex key when given, else the state root's audit key.</summary>
    public static Result<byte[]> LogKey(StateRoot root, string? pinnedHex)
    {
        if (pinnedHex is not null)
        {
            return LogState.ParsePublicKey(pinnedHex) is { } pinned
                ? pinned
                : KheishError.BadRequest("invalid_public_key", "--public-key is not 64 hex characters of an Ed25519 public key (from 'audit public-key')");
        }

        Result<AuditSigningKey> resolved = AuditSigningKey.Resolve(root, Environment.GetEnvironmentVariable, createIfMissing: false);
        if (!resolved.TryGetValue(out AuditSigningKey? key, out KheishError? error))
        {
            return error;
        }

        using (key)
        {
            return Convert.FromHexString(key.PublicKeyHex);
        }
    }

    public static Result<byte[]> ReadFile(string path, string what)
    {
        try
        {
            byte[] bytes = File.ReadAllBytes(path);
            return bytes.Length > SignedNote.MaxNoteBytes * 2
                ? KheishError.BadRequest("invalid_" + what, $"{path} is too large to be a {what}")
                : bytes;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.BadRequest("invalid_" + what, $"cannot read {what} file '{path}' ({IoReason.Of(ex)})");
        }
    }

    public static ReceiptOutput Describe(TlogProof proof, string actionId)
    {
        Checkpoint? checkpoint = Checkpoint.TryParse(proof.CheckpointNote[..(proof.CheckpointNote.IndexOf("\n\n", StringComparison.Ordinal) + 1)], out _);
        return new ReceiptOutput(actionId, proof.Index, checkpoint?.Size ?? 0, checkpoint?.Origin ?? "", proof.Format());
    }

    /// <summary>Prints a consistency report; returns its exit code.</summary>
    public static int WriteConsistency(ConsistencyReport report, bool json, bool proofLines)
    {
        if (json)
        {
            CliOutput.WriteJson(report, AuditJsonContext.Default.ConsistencyReport);
        }
        else if (report.Ok)
        {
            CliOutput.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"OK: log {report.Origin} at size {report.NewSize} (root {report.NewRoot}) extends the kept checkpoint at size {report.OldSize} (root {report.OldRoot})"));
            if (proofLines)
            {
                foreach (string hash in report.Proof)
                {
                    CliOutput.Out.WriteLine(hash);
                }
            }
        }
        else
        {
            CliOutput.Out.WriteLine($"FAILED: transparency log {report.Origin}: {report.FailureCode}: {report.Failure}");
        }

        return report.Ok ? ExitCodes.Ok : ExitCodes.HealthError;
    }

    public static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
