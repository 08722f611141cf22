using System.Security.Cryptography;
using System.Text;

namespace Kheish.Core.Audit;

/// <summary>
/// The exact bytes the ledger hashes, signs and stores. One writer produces all of them:
/// compact JSON, fields in a fixed order, null fields omitted, strings escaped as in
/// RFC 8785 (JCS): <c>\"</c>, <c>\\</c>, <c>\b \t \n \f \r</c>, other controls as
/// <c>\u00xx</c> (lowercase hex), everything else as raw UTF-8. Lone surrogates are refused.
/// <list type="bullet">
/// <item><c>record_hash</c> = lowercase hex SHA-256 of <see cref="HashInput"/>: the unsigned
/// fields <c>timestamp_ms, session_id, agent_id, run_id, tool_call_id, principal_id,
/// parent_principal_id, grant_id, lease_id (ours, beyond the reference; null fields are omitted, so
/// lines without it hash as the reference's), phase, kind, target, request_digest, response_digest,
/// outcome, api_key_id, input_tokens, output_tokens (ours, per-key usage; omitted when null), prev_hash</c> in that order. <c>action_id</c> = <c>record_hash</c>.</item>
/// <item>The record signature signs the 32 raw digest bytes (hex-decoded <c>record_hash</c>).</item>
/// <item>Checkpoint and index signatures sign a domain prefix line followed by their unsigned
/// fields; those messages are longer than 32 bytes, so no signature can be replayed as another kind.</item>
/// </list>
/// </summary>
internal static class LedgerEncoding
{
    public const string SignatureAlgorithm = "ed25519";
    public const string CheckpointDomain = "kheish.external-action.checkpoint.v1\n";
    public const string IndexDomain = "kheish.external-action.index.v1\n";

    /// <summary>Bytes of a lowercase hex SHA-256 (record_hash, action_id).</summary>
    public const int HashHexLength = 64;

    /// <summary>Bytes of a lowercase hex Ed25519 signature.</summary>
    public const int SignatureHexLength = 128;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static byte[] HashInput(LedgerRecord r)
    {
        var w = new CanonicalJsonWriter(new CanonicalBuffer(512));
        w.Open();
        WriteUnsignedFields(ref w, r.TimestampMs, r.SessionId, r.AgentId, r.RunId, r.ToolCallId, r.PrincipalId, r.ParentPrincipalId, r.GrantId, r.LeaseId, r.Phase, r.Kind, r.Target, r.RequestDigest, r.ResponseDigest, r.Outcome, r.ApiKeyId, r.InputTokens, r.OutputTokens, r.PrevHash);
        w.Close();
        return w.Buffer.Written.ToArray();
    }

    /// <summary>Lowercase hex SHA-256 of the hash input.</summary>
    public static string RecordHash(LedgerRecord r) => Convert.ToHexStringLower(SHA256.HashData(HashInput(r)));

    /// <summary>The line stored in the bucket file (without the newline).</summary>
    public static byte[] RecordLine(LedgerRecord r)
    {
        var w = new CanonicalJsonWriter(new CanonicalBuffer(768));
        w.Open();
        w.String("action_id"u8, r.ActionId);
        WriteUnsignedFields(ref w, r.TimestampMs, r.SessionId, r.AgentId, r.RunId, r.ToolCallId, r.PrincipalId, r.ParentPrincipalId, r.GrantId, r.LeaseId, r.Phase, r.Kind, r.Target, r.RequestDigest, r.ResponseDigest, r.Outcome, r.ApiKeyId, r.InputTokens, r.OutputTokens, r.PrevHash);
        w.String("record_hash"u8, r.RecordHash);
        w.String("signature_alg"u8, r.SignatureAlg);
        w.String("key_id"u8, r.KeyId);
        w.String("signature"u8, r.Signature);
        w.Close();
        return w.Buffer.Written.ToArray();
    }

    /// <summary>
    /// Appends one record line (with its newline) for <paramref name="ev"/> to <paramref name="buffer"/>
    /// and writes the SHA-256 of its hash input into <paramref name="digest"/>. The line is built once:
    /// the unsigned fields are encoded in place, hashed where they lie (framed by the braces the
    /// hash input has), and the hash is filled into <c>action_id</c> and <c>record_hash</c>. The
    /// signature is left as <see cref="SignatureHexLength"/> placeholder bytes at the returned
    /// offset, for <see cref="FillSignature"/>. The bytes equal <see cref="RecordLine"/> of the same record.
    /// </summary>
    public static int AppendRecordLine(CanonicalBuffer buffer, ExternalActionEvent ev, string phase, long timestampMs, string? prevHash, ReadOnlySpan<byte> keyIdUtf8, Span<byte> digest)
    {
        var w = new CanonicalJsonWriter(buffer);
        buffer.Raw("{\"action_id\":\""u8);
        int actionId = buffer.Skip(HashHexLength);
        buffer.Raw("\","u8);
        int fieldsStart = buffer.Length;
        WriteUnsignedFields(ref w, timestampMs, ev.SessionId, ev.AgentId, ev.RunId, ev.ToolCallId, ev.PrincipalId, ev.ParentPrincipalId, ev.GrantId, ev.LeaseId, phase, ev.Kind, ev.Target, ev.RequestDigest, ev.ResponseDigest, ev.Outcome, ev.ApiKeyId, ev.InputTokens, ev.OutputTokens, prevHash);
        int fieldsEnd = buffer.Length;
        buffer.Raw("}"u8);

        // The hash input is "{" + fields + "}": the comma before the fields becomes the opening brace for a moment.
        Span<byte> all = buffer.WrittenSpan;
        all[fieldsStart - 1] = (byte)'{';
        SHA256.HashData(all[(fieldsStart - 1)..(fieldsEnd + 1)], digest);
        all[fieldsStart - 1] = (byte)',';
        buffer.Length = fieldsEnd;

        WriteHex(digest, buffer.WrittenSpan.Slice(actionId, HashHexLength));
        buffer.Raw(",\"record_hash\":\""u8);
        buffer.Hex(digest);
        buffer.Raw("\",\"signature_alg\":\"ed25519\",\"key_id\":\""u8);
        buffer.Raw(keyIdUtf8);
        buffer.Raw("\",\"signature\":\""u8);
        int signature = buffer.Skip(SignatureHexLength);
        buffer.Raw("\"}\n"u8);
        return signature;
    }

    /// <summary>Writes the lowercase hex of <paramref name="signature"/> at <paramref name="offset"/> (from <see cref="AppendRecordLine"/>).</summary>
    public static void FillSignature(Span<byte> lines, int offset, ReadOnlySpan<byte> signature) =>
        WriteHex(signature, lines.Slice(offset, SignatureHexLength));

    public static byte[] CheckpointMessage(string bucket, long recordCount, string? lastRecordHash, string signatureAlg, string keyId)
    {
        var w = new CanonicalJsonWriter(new CanonicalBuffer(512));
        w.Buffer.Ascii(CheckpointDomain);
        w.Open();
        w.String("bucket"u8, bucket);
        w.Number("record_count"u8, recordCount);
        w.String("last_record_hash"u8, lastRecordHash);
        w.String("signature_alg"u8, signatureAlg);
        w.String("key_id"u8, keyId);
        w.Close();
        return w.Buffer.Written.ToArray();
    }

    public static byte[] IndexMessage(IReadOnlyList<string> buckets, string signatureAlg, string keyId)
    {
        var w = new CanonicalJsonWriter(new CanonicalBuffer(256 + (buckets.Count * 48)));
        w.Buffer.Ascii(IndexDomain);
        w.Open();
        w.Array("buckets"u8, buckets);
        w.String("signature_alg"u8, signatureAlg);
        w.String("key_id"u8, keyId);
        w.Close();
        return w.Buffer.Written.ToArray();
    }

    /// <summary>True when every string can be encoded (no lone surrogates).</summary>
    public static bool IsEncodable(string? value)
    {
        if (value is null)
        {
            return true;
        }

        try
        {
            _ = StrictUtf8.GetByteCount(value);
            return true;
        }
        catch (EncoderFallbackException)
        {
            return false;
        }
    }

    private static void WriteHex(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        ReadOnlySpan<byte> digits = "0123456789abcdef"u8;
        for (int i = 0; i < data.Length; i++)
        {
            destination[2 * i] = digits[data[i] >> 4];
            destination[(2 * i) + 1] = digits[data[i] & 0xF];
        }
    }

    private static void WriteUnsignedFields(
        ref CanonicalJsonWriter w,
        long timestampMs,
        string? sessionId,
        string? agentId,
        string? runId,
        string? toolCallId,
        string? principalId,
        string? parentPrincipalId,
        string? grantId,
        string? leaseId,
        string phase,
        string kind,
        string target,
        string? requestDigest,
        string? responseDigest,
        string? outcome,
        string? apiKeyId,
        long? inputTokens,
        long? outputTokens,
        string? prevHash)
    {
        w.Number("timestamp_ms"u8, timestampMs);
        w.String("session_id"u8, sessionId);
        w.String("agent_id"u8, agentId);
        w.String("run_id"u8, runId);
        w.String("tool_call_id"u8, toolCallId);
        w.String("principal_id"u8, principalId);
        w.String("parent_principal_id"u8, parentPrincipalId);
        w.String("grant_id"u8, grantId);
        w.String("lease_id"u8, leaseId);
        w.String("phase"u8, phase);
        w.String("kind"u8, kind);
        w.String("target"u8, target);
        w.String("request_digest"u8, requestDigest);
        w.String("response_digest"u8, responseDigest);
        w.String("outcome"u8, outcome);
        w.String("api_key_id"u8, apiKeyId);
        w.OptionalNumber("input_tokens"u8, inputTokens);
        w.OptionalNumber("output_tokens"u8, outputTokens);
        w.String("prev_hash"u8, prevHash);
    }

    /// <summary>Writes members of one canonical JSON object into a <see cref="CanonicalBuffer"/>.</summary>
    private struct CanonicalJsonWriter(CanonicalBuffer buffer)
    {
        private bool _notFirst;

        public readonly CanonicalBuffer Buffer => buffer;

        public readonly void Open() => buffer.Raw("{"u8);

        public readonly void Close() => buffer.Raw("}"u8);

        public void String(ReadOnlySpan<byte> name, string? value)
        {
            if (value is null)
            {
                return;
            }

            Name(name);
            buffer.Quoted(value);
        }

        public void Number(ReadOnlySpan<byte> name, long value)
        {
            Name(name);
            buffer.Number(value);
        }

        public void OptionalNumber(ReadOnlySpan<byte> name, long? value)
        {
            if (value is { } v)
            {
                Number(name, v);
            }
        }

        public void Array(ReadOnlySpan<byte> name, IReadOnlyList<string> values)
        {
            Name(name);
            buffer.Raw("["u8);
            for (int i = 0; i < values.Count; i++)
            {
                if (i > 0)
                {
                    buffer.Raw(","u8);
                }

                buffer.Quoted(values[i]);
            }

            buffer.Raw("]"u8);
        }

        private void Name(ReadOnlySpan<byte> name)
        {
            if (_notFirst)
            {
                buffer.Raw(","u8);
            }

            _notFirst = true;
            buffer.Raw("\""u8);
            buffer.Raw(name);
            buffer.Raw("\":"u8);
        }
    }
}
