namespace Kheish.Core.Access;

/// <summary>
/// A validated, immutable security configuration with its API keys indexed by digest, so a
/// request costs one hash and one dictionary probe however many keys there are. Edits return
/// a new instance (the CLI writes it; the daemon reloads it).
/// </summary>
internal sealed class SecurityConfig
{
    private readonly Dictionary<ulong, ApiKeyEntry[]> _byDigestPrefix;
    private readonly Dictionary<string, ApiKeyEntry> _byId;

    public SecurityConfig(
        SecurityMode mode,
        IReadOnlyList<ApiKeyEntry> apiKeys,
        IpAllowList allowedIps,
        IpAllowList trustedProxies,
        string? createdAt)
    {
        Mode = mode;
        ApiKeys = apiKeys;
        AllowedIps = allowedIps;
        TrustedProxies = trustedProxies;
        CreatedAt = createdAt;
        _byId = new Dictionary<string, ApiKeyEntry>(StringComparer.Ordinal);
        _byDigestPrefix = [];
        var seen = new HashSet<KeyDigest>();
        foreach (ApiKeyEntry entry in apiKeys)
        {
            if (!_byId.TryAdd(entry.Id, entry))
            {
                throw new ArgumentException($"duplicate API key id '{entry.Id}'", nameof(apiKeys));
            }

            if (!seen.Add(entry.Digest))
            {
                throw new ArgumentException($"API key '{entry.Id}' duplicates another key", nameof(apiKeys));
            }

            // The first 64 bits pick the bucket; the full digest is then compared in constant time.
            _byDigestPrefix[entry.Digest.A] = _byDigestPrefix.TryGetValue(entry.Digest.A, out var bucket)
                ? [.. bucket, entry]
                : [entry];
        }
    }

    /// <summary>No file anywhere: strict with no keys, which refuses every agent request until a key exists (fail closed).</summary>
    public static SecurityConfig Default { get; } = new(SecurityMode.Strict, [], IpAllowList.Empty, IpAllowList.Empty, null);

    public SecurityMode Mode { get; }

    public IReadOnlyList<ApiKeyEntry> ApiKeys { get; }

    public IpAllowList AllowedIps { get; }

    public IpAllowList TrustedProxies { get; }

    public string? CreatedAt { get; }

    /// <summary>The entry whose digest equals <paramref name="digest"/>, compared in constant time; null when none.</summary>
    public ApiKeyEntry? FindByDigest(KeyDigest digest)
    {
        if (!_byDigestPrefix.TryGetValue(digest.A, out ApiKeyEntry[]? bucket))
        {
            return null;
        }

        ApiKeyEntry? found = null;
        foreach (ApiKeyEntry entry in bucket)
        {
            if (entry.Digest.FixedTimeEquals(digest))
            {
                found = entry;
            }
        }

        return found;
    }

    public ApiKeyEntry? FindById(string id) => _byId.GetValueOrDefault(id);

    public SecurityConfig WithMode(SecurityMode mode) => new(mode, ApiKeys, AllowedIps, TrustedProxies, CreatedAt);

    public SecurityConfig WithKey(ApiKeyEntry entry) => new(Mode, [.. ApiKeys, entry], AllowedIps, TrustedProxies, CreatedAt);

    public SecurityConfig WithoutKey(string id) =>
        new(Mode, [.. ApiKeys.Where(k => k.Id != id)], AllowedIps, TrustedProxies, CreatedAt);

    public SecurityConfig WithAllowedIps(IReadOnlyList<IpRule> rules) => new(Mode, ApiKeys, new IpAllowList(rules), TrustedProxies, CreatedAt);

    public SecurityConfig WithTrustedProxies(IReadOnlyList<IpRule> rules) => new(Mode, ApiKeys, AllowedIps, new IpAllowList(rules), CreatedAt);

    public SecurityConfig WithCreatedAt(string createdAt) => new(Mode, ApiKeys, AllowedIps, TrustedProxies, createdAt);
}
