using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Kheish.Core.Crypto;

namespace Kheish.Core.Audit;

/// <summary>
/// The checks shared by the daemon (tail check on start) and <c>runs verify</c>. Public keys are
/// imported once per key id and reused across threads.
/// </summary>
internal sealed class LedgerChecks : IDisposable
{
    private readonly ConcurrentDictionary<string, Ed25519PublicKey?> _keys = new(StringComparer.Ordinal);

    public static bool TryParseRecord(byte[] line, out LedgerRecord? record, out VerifyFailure? failure)
    {
        record = null;
        failure = null;
        try
        {
            record = JsonSerializer.Deserialize(line, AuditJsonContext.Default.LedgerRecord);
        }
        catch (JsonException ex)
        {
            failure = new("malformed_record", $"not a ledger record (JSON error at {ex.Path ?? "$"}, byte {ex.BytePositionInLine})");
            return false;
        }

        if (record is null)
        {
            failure = new("malformed_record", "not a ledger record (null)");
            return false;
        }

        byte[] canonical;
        try
        {
            canonical = LedgerEncoding.RecordLine(record);
        }
        catch (EncoderFallbackException)
        {
            failure = new("non_canonical_record", "a field holds an invalid Unicode string");
            return false;
        }

        if (!canonical.AsSpan().SequenceEqual(line))
        {
            failure = new("non_canonical_record", "the line's bytes differ from the record's canonical encoding (edited, reformatted or reordered fields)");
            return false;
        }

        return true;
    }

    public static bool TryParse<T>(byte[] bytes, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo, out T? value, out string? error)
        where T : class
    {
        try
        {
            value = JsonSerializer.Deserialize(bytes, typeInfo);
            error = value is null ? "empty document" : null;
            return value is not null;
        }
        catch (JsonException ex)
        {
            value = null;
            error = $"JSON error at {ex.Path ?? "$"}";
            return false;
        }
    }

    /// <summary>
    /// Everything about one record that does not depend on its neighbours: hash, action id,
    /// bucket, algorithm, key and signature. <paramref name="expectedKeyId"/> (pinned key, or the
    /// key of the bucket's first record) must sign every record.
    /// </summary>
    public VerifyFailure? CheckRecord(LedgerRecord r, long index, string bucket, string? expectedKeyId)
    {
        if (r.Phase is not ("started" or "completed" or "failed"))
        {
            return new("malformed_record", $"unknown phase '{Printable(r.Phase)}'", index);
        }

        string hash;
        try
        {
            hash = LedgerEncoding.RecordHash(r);
        }
        catch (EncoderFallbackException)
        {
            return new("malformed_record", "a field holds an invalid Unicode string", index);
        }

        if (!string.Equals(hash, r.RecordHash, StringComparison.Ordinal))
        {
            return new("hash_mismatch", "record_hash does not match the record's content (a field was changed)", index);
        }

        if (!string.Equals(r.ActionId, r.RecordHash, StringComparison.Ordinal))
        {
            return new("action_id_mismatch", "action_id differs from record_hash", index);
        }

        string recordBucket = BucketName.For(r);
        if (!string.Equals(recordBucket, bucket, StringComparison.Ordinal))
        {
            return new("wrong_bucket", $"the record belongs to bucket '{Printable(recordBucket)}', found in '{Printable(bucket)}'", index);
        }

        return CheckSignature(r.SignatureAlg, r.KeyId, r.Signature, Convert.FromHexString(r.RecordHash), expectedKeyId, index, "record");
    }

    /// <summary>Checks an Ed25519 signature made by <paramref name="keyId"/> (hex public key).</summary>
    public VerifyFailure? CheckSignature(string alg, string keyId, string signatureHex, byte[] message, string? expectedKeyId, long? index, string what)
    {
        if (!string.Equals(alg, LedgerEncoding.SignatureAlgorithm, StringComparison.Ordinal))
        {
            return new("unsupported_algorithm", $"{what} signature_alg is '{Printable(alg)}', expected 'ed25519'", index);
        }

        if (expectedKeyId is not null && !string.Equals(keyId, expectedKeyId, StringComparison.Ordinal))
        {
            return new("key_mismatch", $"{what} is signed by key {Printable(keyId)}, expected {expectedKeyId}", index);
        }

        Ed25519PublicKey? key = Key(keyId);
        if (key is null)
        {
            return new("bad_key_id", $"{what} key_id is not a 32-byte hex Ed25519 public key", index);
        }

        if (!IsLowerHex(signatureHex, Ed25519.SignatureSize * 2) || !key.Verify(message, Convert.FromHexString(signatureHex)))
        {
            return new("bad_signature", $"{what} signature does not verify under key {keyId}", index);
        }

        return null;
    }

    public static bool IsLowerHex(string? value, int length)
    {
        if (value is null || value.Length != length)
        {
            return false;
        }

        foreach (char c in value)
        {
            if (!char.IsAsciiDigit(c) && c is not (>= 'a' and <= 'f'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Ids in messages come from files an attacker may have written: keep them short and printable.</summary>
    public static string Printable(string? value)
    {
        if (value is null)
        {
            return "null";
        }

        var sb = new StringBuilder();
        foreach (char c in value.Length > 80 ? value[..80] : value)
        {
            sb.Append(char.IsControl(c) ? '?' : c);
        }

        return value.Length > 80 ? sb.Append("...").ToString() : sb.ToString();
    }

    public void Dispose()
    {
        foreach (Ed25519PublicKey? key in _keys.Values)
        {
            key?.Dispose();
        }

        _keys.Clear();
    }

    private Ed25519PublicKey? Key(string keyId) =>
        _keys.GetOrAdd(keyId, static id => IsLowerHex(id, Ed25519.PublicKeySize * 2)
            ? Ed25519PublicKey.TryImport(Convert.FromHexString(id))
            : null);
}
