using System.Security.Cryptography;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Crypto;

/// <summary>What a rekey did: files re-encrypted now, and files already under the new key.</summary>
internal sealed record RekeyReport(int Rekeyed, int AlreadyCurrent, string OldKeyId, string NewKeyId);

/// <summary>
/// Re-encrypts every envelope file under a state root from one master key to another.
/// Each file is replaced atomically, and a file that already opens with the new key is
/// skipped, so a rekey killed at any point is completed by running it again.
/// </summary>
internal static class EnvelopeRekey
{
    /// <summary>
    /// Runs the rekey. Every envelope is checked first (it must open with the current or the
    /// new key); if any does not, nothing is written. The caller holds <c>daemon.lock</c>.
    /// </summary>
    /// <param name="afterFile">Called after each file is rewritten; tests use it to interrupt.</param>
    /// <summary>
    /// Pass 1 alone: every envelope opens with the current or the new key and no state file is
    /// damaged. Callers that write anything before <see cref="Run"/> (the journal fold) check first.
    /// </summary>
    public static KheishError? Check(StateRoot root, MasterKey current, MasterKey next)
    {
        Result<RekeyReport> result = Run(root, current, next, afterFile: null, dryRun: true);
        return result.IsOk ? null : result.Error;
    }

    public static Result<RekeyReport> Run(StateRoot root, MasterKey current, MasterKey next, Action<string>? afterFile = null) =>
        Run(root, current, next, afterFile, dryRun: false);

    private static Result<RekeyReport> Run(StateRoot root, MasterKey current, MasterKey next, Action<string>? afterFile, bool dryRun)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(next);
        if (current.KeyId == next.KeyId)
        {
            return KheishError.BadRequest(
                "rekey_same_key",
                $"{MasterKey.NewValueVariable} is the same key as {MasterKey.ValueVariable} (key id {current.KeyId}); give a new key");
        }

        List<(string Path, string Purpose)> files;
        List<string> damaged;
        try
        {
            files = FindEnvelopes(root, out damaged);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Misconfigured("state_file_unreadable", $"cannot scan {root.FullPath}: {IoReason.Of(ex)}");
        }

        // A truncated envelope may have lost the member that marks it as one: a state file that is
        // not JSON at all stops the rekey too, or it would be left behind under the old key.
        if (damaged.Count > 0)
        {
            return KheishError.Misconfigured(
                "state_file_corrupt",
                $"rekey changed nothing: {string.Join(", ", damaged)} {(damaged.Count == 1 ? "is" : "are")} not valid JSON (truncated or damaged); " +
                "restore from a backup or remove the damaged file, then run rekey again");
        }

        // Pass 1: prove every file is readable with one of the two keys before touching any.
        var pending = new List<(string Path, string Purpose, byte[] Plaintext)>();
        int alreadyCurrent = 0;
        try
        {
            foreach (var (path, purpose) in files)
            {
                byte[] file = File.ReadAllBytes(path);
                if (EnvelopeCodec.KeyIdOf(file) == next.KeyId)
                {
                    Result<byte[]> underNew = EnvelopeCodec.Open(file, next, purpose, path);
                    if (!underNew.IsOk)
                    {
                        return underNew.Error;
                    }

                    CryptographicOperations.ZeroMemory(underNew.Value);
                    alreadyCurrent++;
                    continue;
                }

                Result<byte[]> opened = EnvelopeCodec.Open(file, current, purpose, path);
                if (!opened.IsOk)
                {
                    return opened.Error;
                }

                pending.Add((path, purpose, opened.Value));
            }

            if (dryRun)
            {
                return new RekeyReport(0, alreadyCurrent, current.KeyId, next.KeyId);
            }

            // Pass 2: rewrite, one atomic replacement per file.
            int rekeyed = 0;
            foreach (var (path, purpose, plaintext) in pending)
            {
                AtomicFile.Write(path, EnvelopeCodec.Seal(plaintext, next, purpose));
                rekeyed++;
                afterFile?.Invoke(path);
            }

            return new RekeyReport(rekeyed, alreadyCurrent, current.KeyId, next.KeyId);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.Unavailable("state_write_failed", $"rekey stopped: {ex.Message}. Run it again to finish");
        }
        finally
        {
            foreach (var item in pending)
            {
                CryptographicOperations.ZeroMemory(item.Plaintext);
            }
        }
    }

    /// <summary>
    /// Every regular <c>*.json</c> file under the root that is an envelope, with its purpose
    /// (relative path, '/' separators). Symlinks are not followed and temp files are ignored.
    /// </summary>
    public static List<(string Path, string Purpose)> FindEnvelopes(StateRoot root) => FindEnvelopes(root, out _);

    /// <param name="damaged">Regular <c>*.json</c> files that are neither an envelope nor well-formed JSON.</param>
    public static List<(string Path, string Purpose)> FindEnvelopes(StateRoot root, out List<string> damaged)
    {
        ArgumentNullException.ThrowIfNull(root);
        var found = new List<(string, string)>();
        damaged = [];
        if (!Directory.Exists(root.FullPath))
        {
            return found;
        }

        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            AttributesToSkip = FileAttributes.ReparsePoint,
            IgnoreInaccessible = false,
            MatchType = MatchType.Simple,
        };
        foreach (string path in Directory.EnumerateFiles(root.FullPath, "*.json", options).Order(StringComparer.Ordinal))
        {
            if (!path.EndsWith(".json", StringComparison.Ordinal) || Path.GetFileName(path).StartsWith('.'))
            {
                continue;
            }

            byte[] bytes = File.ReadAllBytes(path);
            if (EnvelopeCodec.IsEnvelope(bytes))
            {
                found.Add((path, Path.GetRelativePath(root.FullPath, path).Replace(Path.DirectorySeparatorChar, '/')));
            }
            else if (!IsWellFormedJson(bytes))
            {
                damaged.Add(path);
            }
        }

        return found;
    }

    private static bool IsWellFormedJson(byte[] bytes)
    {
        var reader = new System.Text.Json.Utf8JsonReader(bytes);
        try
        {
            while (reader.Read())
            {
            }

            return bytes.Length > 0;
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }
}
