using System.Security.Cryptography;
using System.Text.Json;

namespace Kheish.Core.Tests.Crypto;

/// <summary>
/// The AES-GCM primitive exactly as EnvelopeCodec uses it (96-bit nonce, 128-bit tag) against
/// Wycheproof. Groups with other nonce or tag sizes are counted and skipped: the envelope never
/// uses them.
/// </summary>
public sealed class AesGcmWycheproofTests()
{
    [Test]
    public async Task Aes_gcm_with_96_bit_nonces_and_128_bit_tags_matches_every_wycheproof_vector()
    {
        using JsonDocument doc = WycheproofData.LoadOrSkip("aes_gcm_test.json");
        int checkedValid = 0, checkedInvalid = 0, skippedGroups = 0, skippedTests = 0;
        var failures = new List<string>();

        foreach (JsonElement group in doc.RootElement.GetProperty("testGroups").EnumerateArray())
        {
            int ivSize = group.GetProperty("ivSize").GetInt32();
            int tagSize = group.GetProperty("tagSize").GetInt32();
            if (ivSize != 96 || tagSize != 128)
            {
                skippedGroups++;
                skippedTests += group.GetProperty("tests").GetArrayLength();
                continue;
            }

            foreach (JsonElement test in group.GetProperty("tests").EnumerateArray())
            {
                int id = test.GetProperty("tcId").GetInt32();
                byte[] key = WycheproofData.Hex(test, "key");
                byte[] iv = WycheproofData.Hex(test, "iv");
                byte[] aad = WycheproofData.Hex(test, "aad");
                byte[] msg = WycheproofData.Hex(test, "msg");
                byte[] ct = WycheproofData.Hex(test, "ct");
                byte[] tag = WycheproofData.Hex(test, "tag");
                bool valid = test.GetProperty("result").GetString() == "valid";

                using var aes = new AesGcm(key, 16);
                byte[] plain = new byte[ct.Length];
                bool opened;
                try
                {
                    aes.Decrypt(iv, ct, tag, plain, aad);
                    opened = true;
                }
                catch (AuthenticationTagMismatchException)
                {
                    opened = false;
                }

                if (valid)
                {
                    checkedValid++;
                    byte[] sealedCt = new byte[msg.Length];
                    byte[] sealedTag = new byte[16];
                    aes.Encrypt(iv, msg, sealedCt, sealedTag, aad);
                    if (!opened || !plain.AsSpan().SequenceEqual(msg) || !sealedCt.AsSpan().SequenceEqual(ct) || !sealedTag.AsSpan().SequenceEqual(tag))
                    {
                        failures.Add($"tcId {id}: valid vector not reproduced");
                    }
                }
                else
                {
                    checkedInvalid++;
                    if (opened)
                    {
                        failures.Add($"tcId {id}: invalid vector was accepted");
                    }
                }
            }
        }

        Console.WriteLine($"aes_gcm: {checkedValid} valid + {checkedInvalid} invalid vectors checked; {skippedGroups} groups ({skippedTests} vectors) skipped for other nonce/tag sizes");
        await Assert.That(failures).IsEmpty();
        await Assert.That(checkedValid > 0 && checkedInvalid > 0).IsTrue().Because("no 96-bit-nonce vectors were found");
    }
}
