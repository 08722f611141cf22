using System.Net;
using Kheish.Core.Access;

namespace Kheish.Core.Tests.Access;

/// <summary>Builders shared by the Access tests.</summary>
internal static class AccessFixtures
{
    public static ApiKeyEntry Entry(string key, string? principal = null, ApiKeyScope? scope = null)
    {
        KeyDigest digest = ApiKeys.Digest(key);
        string id = ApiKeys.DeriveId(digest);
        return new ApiKeyEntry { Id = id, Digest = digest, Principal = principal ?? ApiKeyEntry.DefaultPrincipal(id), Scope = scope };
    }

    public static IpAllowList Rules(params string[] entries) => new([.. entries.Select(e => IpRule.Parse(e).Value)]);

    public static SecurityConfigSnapshot Snapshot(SecurityConfig config) =>
        SecurityConfigSnapshot.Valid(SecurityConfigOrigin.Project, "/p/.kheish/security.json", config);

    public static IPAddress Ip(string text) => IPAddress.Parse(text);
}
