using System.Text;
using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Crypto;

public sealed class EnvelopeCodecTests
{
    private const string Purpose = "auth/global-slots.json";
    private static readonly byte[] Plain = Encoding.UTF8.GetBytes("{\"slots\":{}}");
    private readonly MasterKey _key = MasterKey.Generate();

    [Fact]
    public void Seal_then_open_returns_the_plaintext()
    {
        byte[] file = EnvelopeCodec.Seal(Plain, _key, Purpose);

        Assert.Equal(Plain, EnvelopeCodec.Open(file, _key, Purpose).Value);
    }

    [Fact]
    public void The_file_is_the_documented_json_shape()
    {
        using var doc = JsonDocument.Parse(EnvelopeCodec.Seal(Plain, _key, Purpose));
        JsonElement root = doc.RootElement;

        Assert.Equal(["version", "key_id", "nonce", "ciphertext"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(1, root.GetProperty("version").GetInt32());
        Assert.Equal(_key.KeyId, root.GetProperty("key_id").GetString());
        Assert.Equal(12, Convert.FromBase64String(root.GetProperty("nonce").GetString()!).Length);
        Assert.Equal(Plain.Length + 16, Convert.FromBase64String(root.GetProperty("ciphertext").GetString()!).Length);
    }

    [Fact]
    public void Two_seals_of_the_same_plaintext_use_different_nonces()
    {
        Assert.NotEqual(EnvelopeCodec.Seal(Plain, _key, Purpose), EnvelopeCodec.Seal(Plain, _key, Purpose));
    }

    [Fact]
    public void A_wrong_key_is_reported_with_both_key_ids()
    {
        byte[] file = EnvelopeCodec.Seal(Plain, _key, Purpose);
        MasterKey other = MasterKey.Generate();

        KheishError error = EnvelopeCodec.Open(file, other, Purpose).Error!;

        Assert.Equal("wrong_master_key", error.Code);
        Assert.Contains($"{Purpose} is encrypted with key id {_key.KeyId}; the configured key has id {other.KeyId}", error.Message);
    }

    [Fact]
    public void A_file_moved_to_another_purpose_is_rejected()
    {
        byte[] file = EnvelopeCodec.Seal(Plain, _key, Purpose);

        Assert.Equal("envelope_tampered", EnvelopeCodec.Open(file, _key, "auth/global-slots.broker-state.json").Error?.Code);
    }

    [Fact]
    public void Any_flipped_ciphertext_bit_is_rejected()
    {
        byte[] file = EnvelopeCodec.Seal(Plain, _key, Purpose);
        using var doc = JsonDocument.Parse(file);
        byte[] sealedBytes = Convert.FromBase64String(doc.RootElement.GetProperty("ciphertext").GetString()!);
        string nonce = doc.RootElement.GetProperty("nonce").GetString()!;

        for (int i = 0; i < sealedBytes.Length; i++)
        {
            byte[] copy = (byte[])sealedBytes.Clone();
            copy[i] ^= 0x01;
            byte[] tampered = Encoding.UTF8.GetBytes(
                $"{{\"version\":1,\"key_id\":\"{_key.KeyId}\",\"nonce\":\"{nonce}\",\"ciphertext\":\"{Convert.ToBase64String(copy)}\"}}");

            Assert.Equal("envelope_tampered", EnvelopeCodec.Open(tampered, _key, Purpose).Error?.Code);
        }
    }

    [Fact]
    public void An_unknown_version_is_reported_as_unsupported()
    {
        string file = Encoding.UTF8.GetString(EnvelopeCodec.Seal(Plain, _key, Purpose)).Replace("\"version\":1", "\"version\":2", StringComparison.Ordinal);

        KheishError error = EnvelopeCodec.Open(Encoding.UTF8.GetBytes(file), _key, Purpose).Error!;

        Assert.Equal("envelope_version_unsupported", error.Code);
        Assert.Equal(ErrorKind.SchemaMismatch, error.Kind);
    }

    [Fact]
    public void Truncated_json_is_reported_as_corrupt_naming_the_file_and_the_fix()
    {
        byte[] file = EnvelopeCodec.Seal(Plain, _key, Purpose);

        KheishError error = EnvelopeCodec.Open(file.AsSpan(0, file.Length / 2), _key, Purpose, "/state/auth/global-slots.json").Error!;

        Assert.Equal("state_file_corrupt", error.Code);
        Assert.StartsWith("/state/auth/global-slots.json is not a readable state file", error.Message);
        Assert.Contains("Restore it from a backup", error.Message);
    }

    [Theory]
    [InlineData("{\"version\":1,\"key_id\":\"x\",\"nonce\":\"AAAA\",\"ciphertext\":\"AAAA\"}", true)]
    [InlineData("{\"slots\":{}}", false)]
    [InlineData("{\"slots\":{\"a\":{\"ciphertext\":1}}}", false)]
    [InlineData("{\"version\":1,\"ciphertext\":\"AAA", true)]
    [InlineData("[1,2]", false)]
    [InlineData("garbage", false)]
    [InlineData("", false)]
    public void IsEnvelope_looks_for_a_top_level_ciphertext_member(string text, bool expected)
    {
        Assert.Equal(expected, EnvelopeCodec.IsEnvelope(Encoding.UTF8.GetBytes(text)));
    }
}
