namespace Kheish.Core.Access;

/// <summary>
/// One configured API key. Generated keys are stored as their digest only. A plaintext entry
/// (the original Kaimon format, a bare string in <c>api_keys</c>) is still accepted so existing
/// files keep working, but it is <see cref="IsWeak"/>: <c>status</c> flags it and the next CLI
/// write replaces it by its digest.
/// </summary>
internal sealed record ApiKeyEntry
{
    public required string Id { get; init; }

    public required KeyDigest Digest { get; init; }

    public required string Principal { get; init; }

    public ApiKeyScope? Scope { get; init; }

    /// <summary>rate_limit, max_concurrent and budget; null is unlimited.</summary>
    public ApiKeyLimits? Limits { get; init; }

    public string? CreatedAt { get; init; }

    /// <summary>
    /// True for a legacy plaintext entry. Its digest is computed at load and the plaintext is
    /// not kept: presented keys are matched by digest, in constant time, like any other.
    /// </summary>
    public bool IsWeak { get; init; }

    public static string DefaultPrincipal(string id) => "apikey:" + id;
}
