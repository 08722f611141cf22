using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace Kheish.Core.Audit;

/// <summary>
/// Which chain a record belongs to, and the file name that chain is stored under.
/// A bucket is the run id, else <c>session-&lt;session id&gt;</c>, else <c>unscoped</c>.
/// Ids come from agents (headers), so the file stem is never the raw id unless it is plainly safe.
/// </summary>
internal static class BucketName
{
    public const string Unscoped = "unscoped";
    public const int MaxDirectStemLength = 100;

    private static readonly SearchValues<char> SafeChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");

    public static string For(string? runId, string? sessionId) =>
        runId ?? (sessionId is null ? Unscoped : "session-" + sessionId);

    public static string For(LedgerRecord record) => For(record.RunId, record.SessionId);

    /// <summary>The prefix that names a session's bucket; a run id may not start with it.</summary>
    public const string SessionPrefix = "session-";

    private static readonly SearchValues<char> AddressableChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:@");

    /// <summary>
    /// Null when <paramref name="runId"/> may name a bucket: it can never alias another kind's
    /// bucket (<c>session-...</c> and <c>unscoped</c> are reserved) and the read API
    /// (<c>GET /v1/runs/{run_id}/external-actions</c>, one path segment) can address it, so
    /// letters, digits and <c>. _ - : @</c> only, not <c>.</c> or <c>..</c>.
    /// </summary>
    public static string? RunIdProblem(string runId)
    {
        if (runId.StartsWith(SessionPrefix, StringComparison.OrdinalIgnoreCase) || runId.Equals(Unscoped, StringComparison.OrdinalIgnoreCase))
        {
            return $"run ids starting with `{SessionPrefix}` and the run id `{Unscoped}` are reserved for session and unscoped buckets";
        }

        if (runId.Length == 0 || runId is "." or ".." || runId.AsSpan().ContainsAnyExcept(AddressableChars))
        {
            return "a run id is letters, digits and . _ - : @ only (it must be addressable as /v1/runs/{run_id}/external-actions)";
        }

        return null;
    }

    /// <summary>
    /// The bucket itself when it starts with a letter or digit, uses only <c>[A-Za-z0-9._-]</c> and
    /// is at most 100 characters; otherwise <c>_</c> + lowercase hex SHA-256 of its UTF-8 bytes.
    /// Direct stems never start with <c>_</c>, so the two forms cannot collide, and no stem can
    /// contain a path separator, be <c>.</c>/<c>..</c>, or be a hidden file.
    /// </summary>
    public static string FileStem(string bucket)
    {
        if (IsDirect(bucket))
        {
            return bucket;
        }

        return "_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(bucket)));
    }

    public static bool IsHashedStem(string stem) => stem.StartsWith('_');

    private static bool IsDirect(string bucket) =>
        bucket.Length is > 0 and <= MaxDirectStemLength
        && char.IsAsciiLetterOrDigit(bucket[0])
        && !bucket.AsSpan().ContainsAnyExcept(SafeChars);
}
