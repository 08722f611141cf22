using System.Text;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Crypto;

public sealed class MasterKeyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kheish-key-").FullName;

    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void Neither_variable_set_means_no_key()
    {
        Result<MasterKey?> key = MasterKey.FromEnvironment(Env());

        Assert.True(key.IsOk);
        Assert.Null(key.Value);
    }

    [Fact]
    public void Base64_of_32_bytes_is_decoded()
    {
        byte[] bytes = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

        MasterKey key = MasterKey.FromEnvironment(Env((MasterKey.ValueVariable, "  " + Convert.ToBase64String(bytes) + "\n"))).Value!;

        Assert.Equal(bytes, key.Bytes.ToArray());
    }

    [Fact]
    public void Exactly_32_raw_utf8_bytes_are_used_as_they_are()
    {
        string raw = new('k', 32);

        MasterKey key = MasterKey.FromEnvironment(Env((MasterKey.ValueVariable, raw))).Value!;

        Assert.Equal(Encoding.UTF8.GetBytes(raw), key.Bytes.ToArray());
    }

    [Theory]
    [InlineData("short")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public void Anything_else_is_rejected_with_the_expected_shape(string text)
    {
        Result<MasterKey?> key = MasterKey.FromEnvironment(Env((MasterKey.ValueVariable, text)));

        Assert.Equal("master_key_invalid", key.Error?.Code);
        Assert.Contains("exactly 32 raw bytes or base64-encoded 32 bytes", key.Error!.Message);
        Assert.DoesNotContain(text, key.Error.Message);
    }

    [Fact]
    public void An_empty_value_is_rejected()
    {
        Result<MasterKey?> key = MasterKey.FromEnvironment(Env((MasterKey.ValueVariable, "  ")));

        Assert.Equal("master_key_empty", key.Error?.Code);
    }

    [Fact]
    public void Value_and_file_together_are_rejected()
    {
        Result<MasterKey?> key = MasterKey.FromEnvironment(Env((MasterKey.ValueVariable, new string('k', 32)), (MasterKey.FileVariable, "/x")));

        Assert.Equal("master_key_conflict", key.Error?.Code);
        Assert.Contains(MasterKey.FileVariable, key.Error!.Message);
    }

    [Fact]
    public void A_key_file_is_read_and_trimmed()
    {
        string path = Path.Combine(_dir, "key");
        byte[] bytes = MasterKey.Generate().Bytes.ToArray();
        File.WriteAllText(path, Convert.ToBase64String(bytes) + "\n");

        MasterKey key = MasterKey.FromEnvironment(Env((MasterKey.FileVariable, path))).Value!;

        Assert.Equal(bytes, key.Bytes.ToArray());
    }

    [Fact]
    public void A_missing_key_file_is_an_error_naming_the_file()
    {
        string path = Path.Combine(_dir, "absent");

        Result<MasterKey?> key = MasterKey.FromEnvironment(Env((MasterKey.FileVariable, path)));

        Assert.Equal("master_key_file_unreadable", key.Error?.Code);
        Assert.Contains(path, key.Error!.Message);
    }

    [Fact]
    public void The_new_key_is_read_from_its_own_variables()
    {
        string text = new('n', 32);

        Result<MasterKey?> current = MasterKey.FromEnvironment(Env((MasterKey.NewValueVariable, text)));
        Result<MasterKey?> next = MasterKey.NewFromEnvironment(Env((MasterKey.NewValueVariable, text)));

        Assert.Null(current.Value);
        Assert.Equal(Encoding.UTF8.GetBytes(text), next.Value!.Bytes.ToArray());
    }

    [Fact]
    public void Key_id_is_16_hex_chars_stable_per_key_and_different_across_keys()
    {
        byte[] bytes = new byte[32];
        MasterKey a = MasterKey.FromBytes(bytes);
        MasterKey b = MasterKey.FromBytes(bytes);
        MasterKey c = MasterKey.Generate();

        Assert.Matches("^[0-9a-f]{16}$", a.KeyId);
        Assert.Equal(a.KeyId, b.KeyId);
        Assert.NotEqual(a.KeyId, c.KeyId);
        Assert.DoesNotContain(Convert.ToBase64String(bytes), a.ToString());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
