using System.Text;
using Kheish.Core.Access;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Access;

public sealed class SecurityConfigFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kheish-access-" + Guid.NewGuid().ToString("N"));

    private static Result<SecurityConfig> Parse(string json) => SecurityConfigFile.Parse(Encoding.UTF8.GetBytes(json), "/p/security.json");

    [Test]
    public async Task The_seed_example_with_a_plaintext_key_loads_and_is_flagged_weak()
    {
        var config = Parse("""{"mode":"strict","api_keys":["key-abc123"],"allowed_ips":["127.0.0.1","::1"]}""").Value;

        ApiKeyEntry entry = (await Assert.That(config.ApiKeys).HasSingleItem())!;
        await Assert.That(entry.IsWeak).IsTrue();
        await Assert.That(config.FindByDigest(ApiKeys.Digest("key-abc123"))).IsSameReferenceAs(entry);
        await Assert.That(config.AllowedIps.Entries).IsEquivalentTo(["127.0.0.1", "::1"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task A_missing_mode_means_strict()
    {
        await Assert.That(Parse("{}").Value.Mode).IsEqualTo(SecurityMode.Strict);
    }

    [Test]
    [Arguments("""{"mode":"open"}""", "'mode' must be one of")]
    [Arguments("""{"mode":"Strict"}""", "'mode' must be one of")]
    [Arguments("""{"mode":"strict",}""", "not valid JSON")]
    [Arguments("""{"mode":"strict","mode":"lax"}""", "more than once")]
    [Arguments("""{"modes":"lax"}""", "unknown field 'modes'")]
    [Arguments("""[]""", "top level")]
    [Arguments("""{"api_keys":{}}""", "'api_keys' must be an array")]
    [Arguments("""{"api_keys":[{"id":"a","digest":"sha256:abc"}]}""", "api_keys[0].digest")]
    [Arguments("""{"api_keys":[{"id":"a b","digest":"sha256:abc"}]}""", "api_keys[0].id")]
    [Arguments("""{"api_keys":[{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","key":"x"}]}""", "unknown field 'key'")]
    [Arguments("""{"api_keys":["k1","k1"]}""", "api_keys[1] is the same key")]
    [Arguments("""{"api_keys":[{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","scope":{"route_alow":["a"]}}]}""", "api_keys[0].scope")]
    [Arguments("""{"api_keys":[{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","scope":{"route_allow":[""]}}]}""", "route_allow[0]")]
    [Arguments("""{"allowed_ips":["10.0.0.1/8"]}""", "allowed_ips[0]")]
    [Arguments("""{"trusted_proxies":["proxy.local"]}""", "trusted_proxies[0]")]
    [Arguments("""{"created_at":"yesterday"}""", "created_at")]
    public async Task Malformed_files_are_config_invalid_naming_the_file_and_the_problem(string json, string fragment)
    {
        Result<SecurityConfig> r = Parse(json);

        await Assert.That(r.IsOk).IsFalse();
        await Assert.That(r.Error!.Code).IsEqualTo("config_invalid");
        await Assert.That(r.Error.Kind).IsEqualTo(ErrorKind.Misconfigured);
        await Assert.That(r.Error.Message).Contains("/p/security.json");
        await Assert.That(r.Error.Message).Contains(fragment);
    }

    [Test]
    public async Task A_duplicate_plaintext_key_error_does_not_quote_the_key()
    {
        Result<SecurityConfig> r = Parse("""{"api_keys":["secret-value-123","secret-value-123"]}""");

        await Assert.That(r.Error!.Message).DoesNotContain("secret-value-123");
    }

    [Test]
    public async Task Save_then_load_round_trips_and_upgrades_plaintext_to_digests()
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

        await Assert.That(text).DoesNotContain("legacy-key-1");
        await Assert.That(text).Contains("\"digest\": \"sha256:ab00");
        await Assert.That(reloaded.ApiKeys).All(k => !k.IsWeak);
        await Assert.That(reloaded.Mode).IsEqualTo(SecurityMode.Relaxed);
        await Assert.That(reloaded.FindByDigest(ApiKeys.Digest("legacy-key-1"))).IsNotNull();
        await Assert.That(reloaded.FindById("ci")!.Principal).IsEqualTo("agent:ci");
        await Assert.That(reloaded.FindById("ci")!.Scope!.RouteAllow!).IsEquivalentTo(["openai"], CollectionOrdering.Matching);
        await Assert.That(reloaded.AllowedIps.Entries).IsEquivalentTo(["10.0.0.0/8"], CollectionOrdering.Matching);
        await Assert.That(reloaded.TrustedProxies.Entries).IsEquivalentTo(["10.9.0.1"], CollectionOrdering.Matching);
        await Assert.That(reloaded.CreatedAt).IsNotNull();
    }

    [Test]
    public async Task Save_writes_a_0600_file_in_a_0700_directory()
    {
        string path = Path.Combine(_dir, ".kheish", "security.json");

        SecurityConfigFile.Save(path, SecurityConfig.Default);

        await Assert.That(File.GetUnixFileMode(path)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await Assert.That(File.GetUnixFileMode(Path.GetDirectoryName(path)!)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    [Test]
    public async Task Load_of_a_missing_file_is_null()
    {
        await Assert.That(SecurityConfigFile.Load(Path.Combine(_dir, "nope.json"))).IsNull();
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
