using System.Security.Cryptography;
using System.Text;
using Kheish.Core.Audit;

namespace Kheish.Core.Tests.Audit;

public sealed class LedgerEncodingTests
{
    private static LedgerRecord Sample(string? prev = null, string target = "https://x.test/a") => new()
    {
        ActionId = "",
        TimestampMs = 1700000000123,
        RunId = "run-1",
        AgentId = "agent-1",
        Phase = "started",
        Kind = "probe",
        Target = target,
        PrevHash = prev,
        RecordHash = "",
        SignatureAlg = "ed25519",
        KeyId = "k",
        Signature = "s",
    };

    [Test]
    public async Task Hash_input_is_compact_json_of_the_unsigned_fields_in_fixed_order_without_nulls()
    {
        string input = Encoding.UTF8.GetString(LedgerEncoding.HashInput(Sample(prev: "00ff")));

        await Assert.That(input).IsEqualTo("{\"timestamp_ms\":1700000000123,\"agent_id\":\"agent-1\",\"run_id\":\"run-1\",\"phase\":\"started\",\"kind\":\"probe\",\"target\":\"https://x.test/a\",\"prev_hash\":\"00ff\"}");
    }

    [Test]
    public async Task Record_hash_is_lowercase_hex_sha256_of_the_hash_input()
    {
        LedgerRecord r = Sample();

        string expected = Convert.ToHexStringLower(SHA256.HashData(LedgerEncoding.HashInput(r)));

        await Assert.That(LedgerEncoding.RecordHash(r)).IsEqualTo(expected);
        await Assert.That(LedgerEncoding.RecordHash(r)).Matches("^[0-9a-f]{64}$");
    }

    [Test]
    public async Task Strings_are_escaped_as_in_jcs_and_other_characters_stay_raw_utf8()
    {
        string input = Encoding.UTF8.GetString(LedgerEncoding.HashInput(Sample(target: "a\"b\\c\n\u0001<é>😀")));

        await Assert.That(input).Contains("\"target\":\"a\\\"b\\\\c\\n\\u0001<é>😀\"");
    }

    [Test]
    public async Task A_lone_surrogate_has_no_canonical_form()
    {
        await Assert.That(LedgerEncoding.IsEncodable("a\ud800b")).IsFalse();
        await Assert.That(() => LedgerEncoding.HashInput(Sample(target: "a\ud800b"))).Throws<EncoderFallbackException>();
    }

    [Test]
    public async Task Checkpoint_and_index_messages_carry_their_domain_and_never_look_like_a_record_digest()
    {
        byte[] checkpoint = LedgerEncoding.CheckpointMessage("run-1", 0, null, "ed25519", "k");
        byte[] index = LedgerEncoding.IndexMessage([], "ed25519", "k");

        await Assert.That(Encoding.UTF8.GetString(checkpoint)).StartsWith(LedgerEncoding.CheckpointDomain);
        await Assert.That(Encoding.UTF8.GetString(index)).StartsWith(LedgerEncoding.IndexDomain);
        await Assert.That(checkpoint.Length > 32 && index.Length > 32).IsTrue();
    }

    [Test]
    public async Task Any_change_to_an_unsigned_field_changes_the_hash()
    {
        LedgerRecord r = Sample();
        string hash = LedgerEncoding.RecordHash(r);

        await Assert.That(LedgerEncoding.RecordHash(r with { TimestampMs = r.TimestampMs + 1 })).IsNotEqualTo(hash);
        await Assert.That(LedgerEncoding.RecordHash(r with { Target = r.Target + "x" })).IsNotEqualTo(hash);
        await Assert.That(LedgerEncoding.RecordHash(r with { Outcome = "ok" })).IsNotEqualTo(hash);
        await Assert.That(LedgerEncoding.RecordHash(r with { PrevHash = "00" })).IsNotEqualTo(hash);
    }
}
