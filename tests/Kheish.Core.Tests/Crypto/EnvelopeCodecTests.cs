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

    [Test]
    public async Task Seal_then_open_returns_the_plaintext()
    {
        byte[] file = EnvelopeCodec.Seal(Plain, _key, Purpose);

        await Assert.That(EnvelopeCodec.Open(file, _key, Purpose).Value).IsEquivalentTo(Plain, CollectionOrdering.Matching);
    }

    [Test]
    public async Task The_file_is_the_documented_json_shape()
    {
        using var doc = JsonDocument.Parse(EnvelopeCodec.Seal(Plain, _key, Purpose));
        JsonElement root = doc.RootElement;

        await Assert.That(root.EnumerateObject().Select(p => p.Name)).IsEquivalentTo(["version", "key_id", "nonce", "ciphertext"], CollectionOrdering.Matching);
        await Assert.That(root.GetProperty("version").GetInt32()).IsEqualTo(1);
        await Assert.That(root.GetProperty("key_id").GetString()).IsEqualTo(_key.KeyId);
        await Assert.That(Convert.FromBase64String(root.GetProperty("nonce").GetString()!).Length).IsEqualTo(12);
        await Assert.That(Convert.FromBase64String(root.GetProperty("ciphertext").GetString()!).Length).IsEqualTo(Plain.Length + 16);
    }

    [Test]
    public async Task Two_seals_of_the_same_plaintext_use_different_nonces()
    {
        await Assert.That(EnvelopeCodec.Seal(Plain, _key, Purpose)).IsNotEquivalentTo(EnvelopeCodec.Seal(Plain, _key, Purpose), CollectionOrdering.Matching);
    }

    [Test]
    public async Task A_wrong_key_is_reported_with_both_key_ids()
    {
        byte[] file = EnvelopeCodec.Seal(Plain, _key, Purpose);
        MasterKey other = MasterKey.Generate();

        KheishError error = EnvelopeCodec.Open(file, other, Purpose).Error!;

        await Assert.That(error.Code).IsEqualTo("wrong_master_key");
        await Assert.That(error.Message).Contains($"{Purpose} is encrypted with key id {_key.KeyId}; the configured key has id {other.KeyId}");
    }

    [Test]
    public async Task A_file_moved_to_another_purpose_is_rejected()
    {
        byte[] file = EnvelopeCodec.Seal(Plain, _key, Purpose);

        await Assert.That(EnvelopeCodec.Open(file, _key, "auth/global-slots.broker-state.json").Error?.Code).IsEqualTo("envelope_tampered");
    }

    [Test]
    public async Task Any_flipped_ciphertext_bit_is_rejected()
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

            await Assert.That(EnvelopeCodec.Open(tampered, _key, Purpose).Error?.Code).IsEqualTo("envelope_tampered");
        }
    }

    [Test]
    public async Task An_unknown_version_is_reported_as_unsupported()
    {
        string file = Encoding.UTF8.GetString(EnvelopeCodec.Seal(Plain, _key, Purpose)).Replace("\"version\":1", "\"version\":2", StringComparison.Ordinal);

        KheishError error = EnvelopeCodec.Open(Encoding.UTF8.GetBytes(file), _key, Purpose).Error!;

        await Assert.That(error.Code).IsEqualTo("envelope_version_unsupported");
        await Assert.That(error.Kind).IsEqualTo(ErrorKind.SchemaMismatch);
    }

    [Test]
    public async Task Truncated_json_is_reported_as_corrupt_naming_the_file_and_the_fix()
    {
        byte[] file = EnvelopeCodec.Seal(Plain, _key, Purpose);

        KheishError error = EnvelopeCodec.Open(file.AsSpan(0, file.Length / 2), _key, Purpose, "/state/auth/global-slots.json").Error!;

        await Assert.That(error.Code).IsEqualTo("state_file_corrupt");
        await Assert.That(error.Message).StartsWith("/state/auth/global-slots.json is not a readable state file");
        await Assert.That(error.Message).Contains("Restore it from a backup");
    }

    [Test]
    [Arguments("{\"version\":1,\"key_id\":\"x\",\"nonce\":\"AAAA\",\"ciphertext\":\"AAAA\"}", true)]
    [Arguments("{\"slots\":{}}", false)]
    [Arguments("{\"slots\":{\"a\":{\"ciphertext\":1}}}", false)]
    [Arguments("{\"version\":1,\"ciphertext\":\"AAA", true)]
    [Arguments("[1,2]", false)]
    [Arguments("garbage", false)]
    [Arguments("", false)]
    public async Task IsEnvelope_looks_for_a_top_level_ciphertext_member(string text, bool expected)
    {
        await Assert.That(EnvelopeCodec.IsEnvelope(Encoding.UTF8.GetBytes(text))).IsEqualTo(expected);
    }
}
