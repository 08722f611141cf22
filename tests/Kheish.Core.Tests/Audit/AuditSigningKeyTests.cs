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

    public static IEnumerable<string> SeedForms =>
    [
        SeedHex,
        SeedHex.ToUpperInvariant(),
        Convert.ToBase64String(Convert.FromHexString(SeedHex)),
        Convert.ToBase64String(Convert.FromHexString(SeedHex)).TrimEnd('=').Replace('+', '-').Replace('/', '_'),
        "{\"algorithm\":\"ed25519\",\"secret_key_hex\":\"" + SeedHex + "\"}",
        "  " + SeedHex + "\n",
    ];

    [Test]
    [MethodDataSource(nameof(SeedForms))]
    public async Task The_env_key_is_accepted_as_hex_base64_base64url_or_json(string value)
    {
        using AuditSigningKey key = AuditSigningKey.Resolve(_t.Root, Env(inline: value), createIfMissing: true).Value;

        await Assert.That(key.PublicKeyHex).IsEqualTo(PublicHex);
        await Assert.That(File.Exists(_t.Root.AuditSigningKeyFile)).IsFalse();
    }

    [Test]
    public async Task The_key_file_env_is_read()
    {
        string file = Path.Combine(_t.Path, "mounted.key");
        Directory.CreateDirectory(_t.Path);
        File.WriteAllText(file, SeedHex);

        using AuditSigningKey key = AuditSigningKey.Resolve(_t.Root, Env(file: file), createIfMissing: true).Value;

        await Assert.That(key.PublicKeyHex).IsEqualTo(PublicHex);
    }

    [Test]
    public async Task Both_env_variables_set_is_an_error()
    {
        KheishError? error = AuditSigningKey.Resolve(_t.Root, Env(SeedHex, "/x"), createIfMissing: true).Error;

        await Assert.That(error?.Code).IsEqualTo("audit_signing_key_conflict");
    }

    [Test]
    [Arguments("abcd")]
    [Arguments("AAAA")]
    [Arguments("{\"algorithm\":\"rsa\",\"secret_key_hex\":\"" + SeedHex + "\"}")]
    [Arguments("{\"algorithm\":\"ed25519\",\"secret_key_hex\":\"zz\"}")]
    [Arguments("{not json")]
    public async Task A_malformed_key_is_a_precise_error_that_never_echoes_the_value(string value)
    {
        KheishError error = AuditSigningKey.Resolve(_t.Root, Env(inline: value), createIfMissing: true).Error!;

        await Assert.That(error.Code).IsEqualTo("audit_signing_key_invalid");
        await Assert.That(error.Message).Contains(AuditSigningKey.EnvironmentVariable);
        await Assert.That(error.Message).DoesNotContain(SeedHex);
        if (value.Length > 3)
        {
            await Assert.That(error.Message).DoesNotContain(value);
        }
    }

    [Test]
    public async Task A_missing_key_file_env_target_is_reported_with_its_path()
    {
        KheishError error = AuditSigningKey.Resolve(_t.Root, Env(file: "/nonexistent/key"), createIfMissing: true).Error!;

        await Assert.That(error.Code).IsEqualTo("audit_signing_key_unreadable");
        await Assert.That(error.Message).Contains("/nonexistent/key");
    }

    [Test]
    public async Task A_fresh_state_root_gets_a_0600_json_key_file()
    {
        using AuditSigningKey key = AuditSigningKey.Resolve(_t.Root, Env(), createIfMissing: true).Value;

        string text = File.ReadAllText(_t.Root.AuditSigningKeyFile);
        await Assert.That(text).StartsWith("{\"algorithm\":\"ed25519\",\"secret_key_hex\":\"");
        await Assert.That(File.GetUnixFileMode(_t.Root.AuditSigningKeyFile)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using AuditSigningKey again = AuditSigningKey.Resolve(_t.Root, Env(), createIfMissing: true).Value;
        await Assert.That(again.PublicKeyHex).IsEqualTo(key.PublicKeyHex);
    }

    [Test]
    public async Task Concurrent_creators_agree_on_one_key()
    {
        var keys = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            using AuditSigningKey key = AuditSigningKey.Resolve(_t.Root, Env(), createIfMissing: true).Value;
            return key.PublicKeyHex;
        })));

        await Assert.That(keys.Distinct()).HasSingleItem();
        await Assert.That(Directory.GetFiles(_t.Root.FullPath).Select(f => Path.GetFileName(f)!)).IsEquivalentTo(["audit-signing.key"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task A_ledger_with_records_and_no_key_refuses_to_invent_one()
    {
        await _t.FillAsync("run-1", 1);

        KheishError error = AuditSigningKey.Resolve(_t.Root, Env(), createIfMissing: true).Error!;

        await Assert.That(error.Code).IsEqualTo("audit_signing_key_missing");
        await Assert.That(error.Kind).IsEqualTo(ErrorKind.Misconfigured);
        await Assert.That(error.Message).Contains("already has records");
        await Assert.That(File.Exists(_t.Root.AuditSigningKeyFile)).IsFalse();
    }

    [Test]
    public async Task A_group_readable_key_file_is_refused()
    {
        using (AuditSigningKey.Resolve(_t.Root, Env(), createIfMissing: true).Value)
        {
        }

        File.SetUnixFileMode(_t.Root.AuditSigningKeyFile, (UnixFileMode)0b110_100_000);

        await Assert.That(AuditSigningKey.Resolve(_t.Root, Env(), createIfMissing: true).Error?.Code).IsEqualTo("audit_signing_key_exposed");
    }

    [Test]
    public async Task The_daemon_refuses_a_configured_key_that_did_not_sign_the_ledger()
    {
        await _t.FillAsync("run-1", 1);

        var result = ExternalActionLedger.OpenForDaemon(_t.Root, Env(inline: SeedHex));

        await Assert.That(result.Error?.Code).IsEqualTo("audit_signing_key_mismatch");
        await Assert.That(result.Error!.Message).Contains(PublicHex);
    }

    [Test]
    public async Task The_daemon_opens_a_fresh_state_root_and_creates_its_key()
    {
        await using ExternalActionLedger ledger = ExternalActionLedger.OpenForDaemon(_t.Root, Env()).Value;

        await Assert.That(File.Exists(_t.Root.AuditSigningKeyFile)).IsTrue();
        await Assert.That(ledger.Health.Healthy).IsTrue();
        await Assert.That((await ledger.AppendAsync(LedgerTestRoot.Event())).IsOk).IsTrue();
    }
}
