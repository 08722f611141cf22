using System.Security.Cryptography;
using System.Text;
using Kheish.Core.Audit;

namespace Kheish.Core.Tests.Audit;

/// <summary>The append path builds each line once (issue 16); it must equal the canonical encoder byte for byte.</summary>
public sealed class RecordLineBuilderTests
{
    private const string KeyId = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Test]
    [Arguments("https://api.example.test/v1/chat")]
    [Arguments("a\"b\\c<é>😀 ✓")]
    [Arguments("\"\"\\\\")]
    public async Task A_line_built_in_place_equals_the_canonical_record_line_and_its_digest_is_the_record_hash(string target)
    {
        var ev = new ExternalActionEvent(ActionPhase.Completed, "provider_request", target)
        {
            RunId = "run-é",
            SessionId = "session-1",
            AgentId = "agent \"q\"",
            ToolCallId = "call_1",
            PrincipalId = "apikey:x",
            GrantId = "grant-1",
            RequestDigest = "sha256:" + new string('a', 64),
            ResponseDigest = "sha256:" + new string('b', 64),
            Outcome = "200",
        };
        string prev = new('c', 64);
        var buffer = new CanonicalBuffer(16);
        buffer.Raw("previous line\n"u8);
        byte[] digest = new byte[32];
        byte[] signature = RandomNumberGenerator.GetBytes(64);

        int signatureAt = LedgerEncoding.AppendRecordLine(buffer, ev, "completed", 1_700_000_000_123, prev, Encoding.UTF8.GetBytes(KeyId), digest);
        LedgerEncoding.FillSignature(buffer.WrittenSpan, signatureAt, signature);

        string hash = Convert.ToHexStringLower(digest);
        var expected = new LedgerRecord
        {
            ActionId = hash,
            TimestampMs = 1_700_000_000_123,
            SessionId = ev.SessionId,
            AgentId = ev.AgentId,
            RunId = ev.RunId,
            ToolCallId = ev.ToolCallId,
            PrincipalId = ev.PrincipalId,
            GrantId = ev.GrantId,
            Phase = "completed",
            Kind = ev.Kind,
            Target = target,
            RequestDigest = ev.RequestDigest,
            ResponseDigest = ev.ResponseDigest,
            Outcome = ev.Outcome,
            PrevHash = prev,
            RecordHash = hash,
            SignatureAlg = "ed25519",
            KeyId = KeyId,
            Signature = Convert.ToHexStringLower(signature),
        };
        byte[] line = [.. LedgerEncoding.RecordLine(expected), (byte)'\n'];
        await Assert.That(Encoding.UTF8.GetString(buffer.Written[14..])).IsEqualTo(Encoding.UTF8.GetString(line));
        await Assert.That(hash).IsEqualTo(LedgerEncoding.RecordHash(expected));
        await Assert.That(Encoding.UTF8.GetString(buffer.Written[..14])).IsEqualTo("previous line\n");
    }

    [Test]
    public async Task A_lease_id_sits_after_the_grant_id_and_a_record_without_one_encodes_as_before()
    {
        var ev = new ExternalActionEvent(ActionPhase.Started, "mcp_tool_call", "everything/echo") { RunId = "run-1", GrantId = "grant-1", LeaseId = "lease-1" };
        var with = new CanonicalBuffer(16);
        LedgerEncoding.AppendRecordLine(with, ev, "started", 1, null, Encoding.UTF8.GetBytes(KeyId), new byte[32]);
        string line = Encoding.UTF8.GetString(with.Written);
        await Assert.That(line).Contains("\"grant_id\":\"grant-1\",\"lease_id\":\"lease-1\",\"phase\":\"started\"");

        // The verifier parses it back (the field is known) and re-encodes the same bytes.
        await Assert.That(LedgerChecks.TryParseRecord(Encoding.UTF8.GetBytes(line.TrimEnd('\n')), out LedgerRecord? parsed, out VerifyFailure? failure)).IsTrue().Because(failure?.ToString() ?? "");
        await Assert.That(parsed!.LeaseId).IsEqualTo("lease-1");
        await Assert.That(Encoding.UTF8.GetString(LedgerEncoding.RecordLine(parsed)) + "\n").IsEqualTo(line);

        // Without a lease id the hash input is the reference's: no lease_id member at all.
        var without = new CanonicalBuffer(16);
        LedgerEncoding.AppendRecordLine(without, ev with { LeaseId = null }, "started", 1, null, Encoding.UTF8.GetBytes(KeyId), new byte[32]);
        await Assert.That(Encoding.UTF8.GetString(without.Written)).DoesNotContain("lease_id");
        await Assert.That(Encoding.UTF8.GetString(without.Written)).Contains("\"grant_id\":\"grant-1\",\"phase\":\"started\"");
    }

    [Test]
    public async Task A_lone_surrogate_has_no_line()
    {
        var ev = new ExternalActionEvent(ActionPhase.Started, "probe", "a\ud800b");

        await Assert.That(() =>
            LedgerEncoding.AppendRecordLine(new CanonicalBuffer(), ev, "started", 1, null, Encoding.UTF8.GetBytes(KeyId), new byte[32])).Throws<EncoderFallbackException>();
    }
}
