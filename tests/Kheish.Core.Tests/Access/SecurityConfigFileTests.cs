using System.Text;
using Kheish.Core.Access;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Access;

public sealed class SecurityConfigFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kheish-access-" + Guid.NewGuid().ToString("N"));

    private static Result<SecurityConfig> Parse(string json) => SecurityConfigFile.Parse(Encoding.UTF8.GetBytes(json), "/p/security.json");

    [Fact]
    public void The_seed_example_with_a_plaintext_key_loads_and_is_flagged_weak()
    {
        var config = Parse("""{"mode":"strict","api_keys":["key-abc123"],"allowed_ips":["127.0.0.1","::1"]}""").Value;

        ApiKeyEntry entry = Assert.Single(config.ApiKeys);
        Assert.True(entry.IsWeak);
        Assert.Same(entry, config.FindByDigest(ApiKeys.Digest("key-abc123")));
        Assert.Equal(["127.0.0.1", "::1"], config.AllowedIps.Entries);
    }

    [Fact]
    public void A_missing_mode_means_strict()
    {
        Assert.Equal(SecurityMode.Strict, Parse("{}").Value.Mode);
    }

    [Theory]
    [InlineData("""{"mode":"open"}""", "'mode' must be one of")]
    [InlineData("""{"mode":"Strict"}""", "'mode' must be one of")]
    [InlineData("""{"mode":"strict",}""", "not valid JSON")]
    [InlineData("""{"mode":"strict","mode":"lax"}""", "more than once")]
    [InlineData("""{"modes":"lax"}""", "unknown field 'modes'")]
    [InlineData("""[]""", "top level")]
    [InlineData("""{"api_keys":{}}""", "'api_keys' must be an array")]
    [InlineData("""{"api_keys":[{"id":"a","digest":"sha256:abc"}]}""", "api_keys[0].digest")]
    [InlineData("""{"api_keys":[{"id":"a b","digest":"sha256:abc"}]}""", "api_keys[0].id")]
    [InlineData("""{"api_keys":[{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","key":"x"}]}""", "unknown field 'key'")]
    [InlineData("""{"api_keys":["k1","k1"]}""", "api_keys[1] is the same key")]
    [InlineData("""{"api_keys":[{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","scope":{"route_alow":["a"]}}]}""", "api_keys[0].scope")]
    [InlineData("""{"api_keys":[{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","scope":{"route_allow":[""]}}]}""", "route_allow[0]")]
    [InlineData("""{"allowed_ips":["10.0.0.1/8"]}""", "allowed_ips[0]")]
    [InlineData("""{"trusted_proxies":["proxy.local"]}""", "trusted_proxies[0]")]
    [InlineData("""{"created_at":"yesterday"}""", "created_at")]
    public void Malformed_files_are_config_invalid_naming_the_file_and_the_problem(string json, string fragment)
    {
        Result<SecurityConfig> r = Parse(json);

        Assert.False(r.IsOk);
        Assert.Equal("config_invalid", r.Error.Code);
        Assert.Equal(ErrorKind.Misconfigured, r.Error.Kind);
        Assert.Contains("/p/security.json", r.Error.Message);
        Assert.Contains(fragment, r.Error.Message);
    }

    [Fact]
    public void A_duplicate_plaintext_key_error_does_not_quote_the_key()
    {
        Result<SecurityConfig> r = Parse("""{"api_keys":["secret-value-123","secret-value-123"]}""");

        Assert.DoesNotContain("secret-value-123", r.Error!.Message);
    }

    [Fact]
    public void Save_then_load_round_trips_and_upgrades_plaintext_to_digests()
    {
        string path = Path.Combine(_dir, ".kheish", "security.json");
        SecurityConfig config = Parse("""
            {"mode":"relaxed","api_keys":["legacy-key-1",
              {"id":"ci","digest":"sha256:AB00000000000000000000000000000000000000000000000000000000000000","principal":"agent:ci","scope":{"route_allow":["openai"]}}],
             "allowed_ips":["::ffff:10.0.0.0/104"],"trusted_proxies":["10.9.0.1"],"port":2828}
            """).Value;

        SecurityConfigFile.Save(path, config);
        string text = File.ReadAllText(path);
        SecurityConfig reloaded = SecurityConfigFile.Load(path)!.Value.Value;

        Assert.DoesNotContain("legacy-key-1", text);
        Assert.Contains("\"digest\": \"sha256:ab00", text);
        Assert.All(reloaded.ApiKeys, k => Assert.False(k.IsWeak));
        Assert.Equal(SecurityMode.Relaxed, reloaded.Mode);
        Assert.NotNull(reloaded.FindByDigest(ApiKeys.Digest("legacy-key-1")));
        Assert.Equal("agent:ci", reloaded.FindById("ci")!.Principal);
        Assert.Equal(["openai"], reloaded.FindById("ci")!.Scope!.RouteAllow!);
        Assert.Equal(["10.0.0.0/8"], reloaded.AllowedIps.Entries);
        Assert.Equal(["10.9.0.1"], reloaded.TrustedProxies.Entries);
        Assert.NotNull(reloaded.CreatedAt);
    }

    [Fact]
    public void Save_writes_a_0600_file_in_a_0700_directory()
    {
        string path = Path.Combine(_dir, ".kheish", "security.json");

        SecurityConfigFile.Save(path, SecurityConfig.Default);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public void Load_of_a_missing_file_is_null()
    {
        Assert.Null(SecurityConfigFile.Load(Path.Combine(_dir, "nope.json")));
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
