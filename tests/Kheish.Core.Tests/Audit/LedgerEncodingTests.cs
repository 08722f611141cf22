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

    [Fact]
    public void Hash_input_is_compact_json_of_the_unsigned_fields_in_fixed_order_without_nulls()
    {
        string input = Encoding.UTF8.GetString(LedgerEncoding.HashInput(Sample(prev: "00ff")));

        Assert.Equal(
            "{\"timestamp_ms\":1700000000123,\"agent_id\":\"agent-1\",\"run_id\":\"run-1\",\"phase\":\"started\",\"kind\":\"probe\",\"target\":\"https://x.test/a\",\"prev_hash\":\"00ff\"}",
            input);
    }

    [Fact]
    public void Record_hash_is_lowercase_hex_sha256_of_the_hash_input()
    {
        LedgerRecord r = Sample();

        string expected = Convert.ToHexStringLower(SHA256.HashData(LedgerEncoding.HashInput(r)));

        Assert.Equal(expected, LedgerEncoding.RecordHash(r));
        Assert.Matches("^[0-9a-f]{64}$", LedgerEncoding.RecordHash(r));
    }

    [Fact]
    public void Strings_are_escaped_as_in_jcs_and_other_characters_stay_raw_utf8()
    {
        string input = Encoding.UTF8.GetString(LedgerEncoding.HashInput(Sample(target: "a\"b\\c\n\u0001<é>😀")));

        Assert.Contains("\"target\":\"a\\\"b\\\\c\\n\\u0001<é>😀\"", input);
    }

    [Fact]
    public void A_lone_surrogate_has_no_canonical_form()
    {
        Assert.False(LedgerEncoding.IsEncodable("a\ud800b"));
        Assert.ThrowsAny<EncoderFallbackException>(() => LedgerEncoding.HashInput(Sample(target: "a\ud800b")));
    }

    [Fact]
    public void Checkpoint_and_index_messages_carry_their_domain_and_never_look_like_a_record_digest()
    {
        byte[] checkpoint = LedgerEncoding.CheckpointMessage("run-1", 0, null, "ed25519", "k");
        byte[] index = LedgerEncoding.IndexMessage([], "ed25519", "k");

        Assert.StartsWith(LedgerEncoding.CheckpointDomain, Encoding.UTF8.GetString(checkpoint));
        Assert.StartsWith(LedgerEncoding.IndexDomain, Encoding.UTF8.GetString(index));
        Assert.True(checkpoint.Length > 32 && index.Length > 32);
    }

    [Fact]
    public void Any_change_to_an_unsigned_field_changes_the_hash()
    {
        LedgerRecord r = Sample();
        string hash = LedgerEncoding.RecordHash(r);

        Assert.NotEqual(hash, LedgerEncoding.RecordHash(r with { TimestampMs = r.TimestampMs + 1 }));
        Assert.NotEqual(hash, LedgerEncoding.RecordHash(r with { Target = r.Target + "x" }));
        Assert.NotEqual(hash, LedgerEncoding.RecordHash(r with { Outcome = "ok" }));
        Assert.NotEqual(hash, LedgerEncoding.RecordHash(r with { PrevHash = "00" }));
    }
}
