using System.Text;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Crypto;

public sealed class MasterKeyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kheish-key-").FullName;

    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Test]
    public async Task Neither_variable_set_means_no_key()
    {
        Result<MasterKey?> key = MasterKey.FromEnvironment(Env());

        await Assert.That(key.IsOk).IsTrue();
        await Assert.That(key.Value).IsNull();
    }

    [Test]
    public async Task Base64_of_32_bytes_is_decoded()
    {
        byte[] bytes = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

        MasterKey key = MasterKey.FromEnvironment(Env((MasterKey.ValueVariable, "  " + Convert.ToBase64String(bytes) + "\n"))).Value!;

        await Assert.That(key.Bytes.ToArray()).IsEquivalentTo(bytes, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Exactly_32_raw_utf8_bytes_are_used_as_they_are()
    {
        string raw = new('k', 32);

        MasterKey key = MasterKey.FromEnvironment(Env((MasterKey.ValueVariable, raw))).Value!;

        await Assert.That(key.Bytes.ToArray()).IsEquivalentTo(Encoding.UTF8.GetBytes(raw), CollectionOrdering.Matching);
    }

    [Test]
    [Arguments("short")]
    [Arguments("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task Anything_else_is_rejected_with_the_expected_shape(string text)
    {
        Result<MasterKey?> key = MasterKey.FromEnvironment(Env((MasterKey.ValueVariable, text)));

        await Assert.That(key.Error?.Code).IsEqualTo("master_key_invalid");
        await Assert.That(key.Error!.Message).Contains("exactly 32 raw bytes or base64-encoded 32 bytes");
        await Assert.That(key.Error.Message).DoesNotContain(text);
    }

    [Test]
    public async Task An_empty_value_is_rejected()
    {
        Result<MasterKey?> key = MasterKey.FromEnvironment(Env((MasterKey.ValueVariable, "  ")));

        await Assert.That(key.Error?.Code).IsEqualTo("master_key_empty");
    }

    [Test]
    public async Task Value_and_file_together_are_rejected()
    {
        Result<MasterKey?> key = MasterKey.FromEnvironment(Env((MasterKey.ValueVariable, new string('k', 32)), (MasterKey.FileVariable, "/x")));

        await Assert.That(key.Error?.Code).IsEqualTo("master_key_conflict");
        await Assert.That(key.Error!.Message).Contains(MasterKey.FileVariable);
    }

    [Test]
    public async Task A_key_file_is_read_and_trimmed()
    {
        string path = Path.Combine(_dir, "key");
        byte[] bytes = MasterKey.Generate().Bytes.ToArray();
        File.WriteAllText(path, Convert.ToBase64String(bytes) + "\n");

        MasterKey key = MasterKey.FromEnvironment(Env((MasterKey.FileVariable, path))).Value!;

        await Assert.That(key.Bytes.ToArray()).IsEquivalentTo(bytes, CollectionOrdering.Matching);
    }

    [Test]
    public async Task A_missing_key_file_is_an_error_naming_the_file()
    {
        string path = Path.Combine(_dir, "absent");

        Result<MasterKey?> key = MasterKey.FromEnvironment(Env((MasterKey.FileVariable, path)));

        await Assert.That(key.Error?.Code).IsEqualTo("master_key_file_unreadable");
        await Assert.That(key.Error!.Message).Contains(path);
    }

    [Test]
    public async Task The_new_key_is_read_from_its_own_variables()
    {
        string text = new('n', 32);

        Result<MasterKey?> current = MasterKey.FromEnvironment(Env((MasterKey.NewValueVariable, text)));
        Result<MasterKey?> next = MasterKey.NewFromEnvironment(Env((MasterKey.NewValueVariable, text)));

        await Assert.That(current.Value).IsNull();
        await Assert.That(next.Value!.Bytes.ToArray()).IsEquivalentTo(Encoding.UTF8.GetBytes(text), CollectionOrdering.Matching);
    }

    [Test]
    public async Task Key_id_is_16_hex_chars_stable_per_key_and_different_across_keys()
    {
        byte[] bytes = new byte[32];
        MasterKey a = MasterKey.FromBytes(bytes);
        MasterKey b = MasterKey.FromBytes(bytes);
        MasterKey c = MasterKey.Generate();

        await Assert.That(a.KeyId).Matches("^[0-9a-f]{16}$");
        await Assert.That(b.KeyId).IsEqualTo(a.KeyId);
        await Assert.That(c.KeyId).IsNotEqualTo(a.KeyId);
        await Assert.That(a.ToString()).DoesNotContain(Convert.ToBase64String(bytes));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
