using Kheish.Core.Audit;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Audit;

public sealed class AuditSigningKeyTests : IDisposable
{
    private const string SeedHex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    private const string PublicHex = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    private readonly LedgerTestRoot _t = new();

    public void Dispose() => _t.Dispose();

    private static Func<string, string?> Env(string? inline = null, string? file = null) => name => name switch
    {
        AuditSigningKey.EnvironmentVariable => inline,
        AuditSigningKey.FileEnvironmentVariable => file,
        _ => null,
    };

    public static TheoryData<string> SeedForms => new()
    {
        SeedHex,
        SeedHex.ToUpperInvariant(),
        Convert.ToBase64String(Convert.FromHexString(SeedHex)),
        Convert.ToBase64String(Convert.FromHexString(SeedHex)).TrimEnd('=').Replace('+', '-').Replace('/', '_'),
        "{\"algorithm\":\"ed25519\",\"secret_key_hex\":\"" + SeedHex + "\"}",
        "  " + SeedHex + "\n",
    };

    [Theory]
    [MemberData(nameof(SeedForms))]
    public void The_env_key_is_accepted_as_hex_base64_base64url_or_json(string value)
    {
        using AuditSigningKey key = AuditSigningKey.Resolve(_t.Root, Env(inline: value), createIfMissing: true).Value;

        Assert.Equal(PublicHex, key.PublicKeyHex);
        Assert.False(File.Exists(_t.Root.AuditSigningKeyFile));
    }

    [Fact]
    public void The_key_file_env_is_read()
    {
        string file = Path.Combine(_t.Path, "mounted.key");
        Directory.CreateDirectory(_t.Path);
        File.WriteAllText(file, SeedHex);

        using AuditSigningKey key = AuditSigningKey.Resolve(_t.Root, Env(file: file), createIfMissing: true).Value;

        Assert.Equal(PublicHex, key.PublicKeyHex);
    }

    [Fact]
    public void Both_env_variables_set_is_an_error()
    {
        KheishError? error = AuditSigningKey.Resolve(_t.Root, Env(SeedHex, "/x"), createIfMissing: true).Error;

        Assert.Equal("audit_signing_key_conflict", error?.Code);
    }

    [Theory]
    [InlineData("abcd")]
    [InlineData("AAAA")]
    [InlineData("{\"algorithm\":\"rsa\",\"secret_key_hex\":\"" + SeedHex + "\"}")]
    [InlineData("{\"algorithm\":\"ed25519\",\"secret_key_hex\":\"zz\"}")]
    [InlineData("{not json")]
    public void A_malformed_key_is_a_precise_error_that_never_echoes_the_value(string value)
    {
        KheishError error = AuditSigningKey.Resolve(_t.Root, Env(inline: value), createIfMissing: true).Error!;

        Assert.Equal("audit_signing_key_invalid", error.Code);
        Assert.Contains(AuditSigningKey.EnvironmentVariable, error.Message);
        Assert.DoesNotContain(SeedHex, error.Message);
        if (value.Length > 3)
        {
            Assert.DoesNotContain(value, error.Message);
        }
    }

    [Fact]
    public void A_missing_key_file_env_target_is_reported_with_its_path()
    {
        KheishError error = AuditSigningKey.Resolve(_t.Root, Env(file: "/nonexistent/key"), createIfMissing: true).Error!;

        Assert.Equal("audit_signing_key_unreadable", error.Code);
        Assert.Contains("/nonexistent/key", error.Message);
    }

    [Fact]
    public void A_fresh_state_root_gets_a_0600_json_key_file()
    {
        using AuditSigningKey key = AuditSigningKey.Resolve(_t.Root, Env(), createIfMissing: true).Value;

        string text = File.ReadAllText(_t.Root.AuditSigningKeyFile);
        Assert.StartsWith("{\"algorithm\":\"ed25519\",\"secret_key_hex\":\"", text);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_t.Root.AuditSigningKeyFile));
        using AuditSigningKey again = AuditSigningKey.Resolve(_t.Root, Env(), createIfMissing: true).Value;
        Assert.Equal(key.PublicKeyHex, again.PublicKeyHex);
    }

    [Fact]
    public async Task Concurrent_creators_agree_on_one_key()
    {
        var keys = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            using AuditSigningKey key = AuditSigningKey.Resolve(_t.Root, Env(), createIfMissing: true).Value;
            return key.PublicKeyHex;
        })));

        Assert.Single(keys.Distinct());
        Assert.Equal(["audit-signing.key"], Directory.GetFiles(_t.Root.FullPath).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_ledger_with_records_and_no_key_refuses_to_invent_one()
    {
        await _t.FillAsync("run-1", 1);

        KheishError error = AuditSigningKey.Resolve(_t.Root, Env(), createIfMissing: true).Error!;

        Assert.Equal("audit_signing_key_missing", error.Code);
        Assert.Equal(ErrorKind.Misconfigured, error.Kind);
        Assert.Contains("already has records", error.Message);
        Assert.False(File.Exists(_t.Root.AuditSigningKeyFile));
    }

    [Fact]
    public void A_group_readable_key_file_is_refused()
    {
        using (AuditSigningKey.Resolve(_t.Root, Env(), createIfMissing: true).Value)
        {
        }

        File.SetUnixFileMode(_t.Root.AuditSigningKeyFile, (UnixFileMode)0b110_100_000);

        Assert.Equal("audit_signing_key_exposed", AuditSigningKey.Resolve(_t.Root, Env(), createIfMissing: true).Error?.Code);
    }

    [Fact]
    public async Task The_daemon_refuses_a_configured_key_that_did_not_sign_the_ledger()
    {
        await _t.FillAsync("run-1", 1);

        var result = ExternalActionLedger.OpenForDaemon(_t.Root, Env(inline: SeedHex));

        Assert.Equal("audit_signing_key_mismatch", result.Error?.Code);
        Assert.Contains(PublicHex, result.Error!.Message);
    }

    [Fact]
    public async Task The_daemon_opens_a_fresh_state_root_and_creates_its_key()
    {
        await using ExternalActionLedger ledger = ExternalActionLedger.OpenForDaemon(_t.Root, Env()).Value;

        Assert.True(File.Exists(_t.Root.AuditSigningKeyFile));
        Assert.True(ledger.Health.Healthy);
        Assert.True((await ledger.AppendAsync(LedgerTestRoot.Event())).IsOk);
    }
}
