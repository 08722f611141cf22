using System.Globalization;
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
/// parent_principal_id, grant_id, phase, kind, target, request_digest, response_digest,
/// outcome, prev_hash</c> in that order. <c>action_id</c> = <c>record_hash</c>.</item>
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

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static byte[] HashInput(LedgerRecord r)
    {
        var w = new Writer();
        WriteUnsignedFields(w, r);
        return w.Finish();
    }

    /// <summary>Lowercase hex SHA-256 of the hash input.</summary>
    public static string RecordHash(LedgerRecord r) => Convert.ToHexStringLower(SHA256.HashData(HashInput(r)));

    /// <summary>The line stored in the bucket file (without the newline).</summary>
    public static byte[] RecordLine(LedgerRecord r)
    {
        var w = new Writer();
        w.String("action_id", r.ActionId);
        WriteUnsignedFields(w, r);
        w.String("record_hash", r.RecordHash);
        w.String("signature_alg", r.SignatureAlg);
        w.String("key_id", r.KeyId);
        w.String("signature", r.Signature);
        return w.Finish();
    }

    public static byte[] CheckpointMessage(string bucket, long recordCount, string? lastRecordHash, string signatureAlg, string keyId)
    {
        var w = new Writer(CheckpointDomain);
        w.String("bucket", bucket);
        w.Number("record_count", recordCount);
        w.String("last_record_hash", lastRecordHash);
        w.String("signature_alg", signatureAlg);
        w.String("key_id", keyId);
        return w.Finish();
    }

    public static byte[] IndexMessage(IReadOnlyList<string> buckets, string signatureAlg, string keyId)
    {
        var w = new Writer(IndexDomain);
        w.Array("buckets", buckets);
        w.String("signature_alg", signatureAlg);
        w.String("key_id", keyId);
        return w.Finish();
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

    private static void WriteUnsignedFields(Writer w, LedgerRecord r)
    {
        w.Number("timestamp_ms", r.TimestampMs);
        w.String("session_id", r.SessionId);
        w.String("agent_id", r.AgentId);
        w.String("run_id", r.RunId);
        w.String("tool_call_id", r.ToolCallId);
        w.String("principal_id", r.PrincipalId);
        w.String("parent_principal_id", r.ParentPrincipalId);
        w.String("grant_id", r.GrantId);
        w.String("phase", r.Phase);
        w.String("kind", r.Kind);
        w.String("target", r.Target);
        w.String("request_digest", r.RequestDigest);
        w.String("response_digest", r.ResponseDigest);
        w.String("outcome", r.Outcome);
        w.String("prev_hash", r.PrevHash);
    }

    private sealed class Writer
    {
        private readonly StringBuilder _sb = new(768);
        private bool _first = true;

        public Writer(string prefix = "")
        {
            _sb.Append(prefix).Append('{');
        }

        public void String(string name, string? value)
        {
            if (value is null)
            {
                return;
            }

            Name(name);
            Quoted(value);
        }

        public void Number(string name, long value)
        {
            Name(name);
            _sb.Append(value.ToString(CultureInfo.InvariantCulture));
        }

        public void Array(string name, IReadOnlyList<string> values)
        {
            Name(name);
            _sb.Append('[');
            for (int i = 0; i < values.Count; i++)
            {
                if (i > 0)
                {
                    _sb.Append(',');
                }

                Quoted(values[i]);
            }

            _sb.Append(']');
        }

        public byte[] Finish()
        {
            _sb.Append('}');
            // Throws EncoderFallbackException on a lone surrogate: such a value has no canonical form.
            return StrictUtf8.GetBytes(_sb.ToString());
        }

        private void Name(string name)
        {
            if (!_first)
            {
                _sb.Append(',');
            }

            _first = false;
            _sb.Append('"').Append(name).Append("\":");
        }

        private void Quoted(string value)
        {
            _sb.Append('"');
            foreach (char c in value)
            {
                switch (c)
                {
                    case '"': _sb.Append("\\\""); break;
                    case '\\': _sb.Append("\\\\"); break;
                    case '\b': _sb.Append("\\b"); break;
                    case '\t': _sb.Append("\\t"); break;
                    case '\n': _sb.Append("\\n"); break;
                    case '\f': _sb.Append("\\f"); break;
                    case '\r': _sb.Append("\\r"); break;
                    default:
                        if (c < 0x20)
                        {
                            _sb.Append("\\u00").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                        }
                        else
                        {
                            _sb.Append(c);
                        }

                        break;
                }
            }

            _sb.Append('"');
        }
    }
}
