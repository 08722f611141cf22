using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Crypto;

namespace Kheish.Core.Tests.Crypto;

public sealed class Ed25519Tests
{
    // RFC 8032 section 7.1, TEST 1-3 and TEST SHA(abc): secret key (seed), public key, message, signature.
    public static IEnumerable<(string, string, string, string)> Rfc8032Vectors =>
    [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
        ),
        (
            "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
            "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"
        ),
    ];

    [Test]
    [MethodDataSource(nameof(Rfc8032Vectors))]
    public async Task Seed_derives_the_rfc8032_public_key(string seed, string publicKey, string message, string signature)
    {
        _ = message;
        _ = signature;
        using var key = Ed25519PrivateKey.FromSeed(Convert.FromHexString(seed));

        await Assert.That(key.PublicKeyHex).IsEqualTo(publicKey);
    }

    [Test]
    [MethodDataSource(nameof(Rfc8032Vectors))]
    public async Task Sign_produces_the_rfc8032_signature(string seed, string publicKey, string message, string signature)
    {
        _ = publicKey;
        using var key = Ed25519PrivateKey.FromSeed(Convert.FromHexString(seed));

        byte[] produced = key.Sign(Convert.FromHexString(message));

        await Assert.That(Convert.ToHexStringLower(produced)).IsEqualTo(signature);
    }

    [Test]
    [MethodDataSource(nameof(Rfc8032Vectors))]
    public async Task Verify_accepts_the_rfc8032_signature(string seed, string publicKey, string message, string signature)
    {
        _ = seed;
        await Assert.That(Ed25519.Verify(Convert.FromHexString(publicKey), Convert.FromHexString(message), Convert.FromHexString(signature))).IsTrue();
    }

    [Test]
    public async Task Verify_rejects_a_signature_with_one_flipped_bit()
    {
        using var key = Ed25519PrivateKey.Generate();
        byte[] message = "ledger record"u8.ToArray();
        byte[] signature = key.Sign(message);
        signature[10] ^= 0x01;

        await Assert.That(Ed25519.Verify(key.PublicKey, message, signature)).IsFalse();
    }

    [Test]
    public async Task Verify_rejects_a_signature_made_by_another_key()
    {
        using var signer = Ed25519PrivateKey.Generate();
        using var other = Ed25519PrivateKey.Generate();
        byte[] message = "ledger record"u8.ToArray();

        await Assert.That(Ed25519.Verify(other.PublicKey, message, signer.Sign(message))).IsFalse();
    }

    [Test]
    [Arguments(0, 64)]
    [Arguments(31, 64)]
    [Arguments(33, 64)]
    [Arguments(32, 0)]
    [Arguments(32, 63)]
    [Arguments(32, 65)]
    public async Task Verify_returns_false_for_malformed_lengths(int publicKeyLength, int signatureLength)
    {
        await Assert.That(Ed25519.Verify(new byte[publicKeyLength], "m"u8, new byte[signatureLength])).IsFalse();
    }

    [Test]
    public void Sign_then_verify_round_trips_for_any_message()
    {
        using var key = Ed25519PrivateKey.Generate();
        using var publicKey = Ed25519PublicKey.TryImport(key.PublicKey)!;

        Prop.ForAll<byte[]>(message => publicKey.Verify(message, key.Sign(message)))
            .QuickCheckThrowOnFailure();
    }

    [Test]
    public void From_seed_rejects_a_seed_that_is_not_32_bytes()
    {
        Assert.ThrowsExactly<ArgumentException>(() => Ed25519PrivateKey.FromSeed(new byte[31]));
    }

    [Test]
    public async Task Every_wycheproof_ed25519_case_gets_its_expected_result()
    {
        string file = Path.Combine(Conformance.Directory, "wycheproof", "ed25519_test.json");
        if (!File.Exists(file))
        {
            Skip.Test($"Wycheproof data absent: {file} (set KHEISH_CONFORMANCE_DIR)");
        }

        using JsonDocument document = JsonDocument.Parse(File.ReadAllBytes(file));
        int valid = 0, invalid = 0, acceptable = 0;
        var mismatches = new List<string>();
        foreach (JsonElement group in document.RootElement.GetProperty("testGroups").EnumerateArray())
        {
            byte[] publicKey = Convert.FromHexString(group.GetProperty("publicKey").GetProperty("pk").GetString()!);
            // One imported key per group: consecutive valid and invalid cases run through the
            // same reused OpenSSL context, as the ledger verifier does.
            using Ed25519PublicKey? imported = Ed25519PublicKey.TryImport(publicKey);
            foreach (JsonElement test in group.GetProperty("tests").EnumerateArray())
            {
                int id = test.GetProperty("tcId").GetInt32();
                byte[] message = Convert.FromHexString(test.GetProperty("msg").GetString()!);
                byte[] signature = Convert.FromHexString(test.GetProperty("sig").GetString()!);
                string expected = test.GetProperty("result").GetString()!;
                bool verified = imported is not null && imported.Verify(message, signature);
                await Assert.That(Ed25519.Verify(publicKey, message, signature)).IsEqualTo(verified);
                switch (expected)
                {
                    case "valid":
                        valid++;
                        if (!verified)
                        {
                            mismatches.Add($"tcId {id}: expected valid, rejected");
                        }

                        break;
                    case "invalid":
                        invalid++;
                        if (verified)
                        {
                            mismatches.Add($"tcId {id}: expected invalid, accepted");
                        }

                        break;
                    default:
                        acceptable++;
                        break;
                }
            }
        }

        Console.WriteLine($"wycheproof ed25519: {valid} valid, {invalid} invalid, {acceptable} acceptable");
        await Assert.That(mismatches).IsEmpty();
        await Assert.That(valid + invalid + acceptable).IsEqualTo(document.RootElement.GetProperty("numberOfTests").GetInt32());
    }
}
