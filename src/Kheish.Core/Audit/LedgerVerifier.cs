using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Audit;

/// <summary>
/// Offline verification of the ledger files: every record's canonical form, hash, action id,
/// bucket and signature; the prev_hash links; the signed checkpoint (present, signed by the same
/// key, not ahead of the file, same hash at its position); and the signed bucket index (every
/// bucket on disk is listed and every listed bucket is on disk). With a pinned public key every
/// signature must be by that key. Signatures are checked on all cores.
/// </summary>
internal static class LedgerVerifier
{
    private const int Chunk = 2048;

    /// <summary>Verifies one bucket (<paramref name="bucket"/>) or all of them (null).</summary>
    public static Result<VerifyReport> Verify(StateRoot root, string? bucket, string? pinnedKeyId)
    {
        if (pinnedKeyId is not null)
        {
            using Ed25519PublicKey? pinned = LedgerChecks.IsLowerHex(pinnedKeyId, Ed25519.PublicKeySize * 2)
                ? Ed25519PublicKey.TryImport(Convert.FromHexString(pinnedKeyId))
                : null;
            if (pinned is null)
            {
                return KheishError.BadRequest("invalid_public_key", "the pinned public key must be 64 lowercase hex characters (a 32-byte Ed25519 public key)");
            }
        }

        var paths = new LedgerPaths(root);
        using var checks = new LedgerChecks();
        var results = new List<BucketVerification>();

        // Files are listed before the index is read: a daemon adds a bucket to the index before it
        // creates the bucket's files, so a live ledger never shows a file missing from the index.
        if (bucket is not null)
        {
            string stem = BucketName.FileStem(bucket);
            bool exists = File.Exists(paths.RecordFile(stem));
            IndexState index = ReadIndex(paths, checks, pinnedKeyId);
            if (!exists && !(index.Buckets?.Contains(bucket) ?? false))
            {
                return KheishError.NotFound("run_not_found", $"no external actions recorded for '{LedgerChecks.Printable(bucket)}'");
            }

            results.Add(exists
                ? VerifyBucket(paths, checks, stem, bucket, pinnedKeyId, index)
                : MissingOrBeingCreated(paths, checks, stem, bucket, pinnedKeyId, index));
            return Summarise(results, index, pinnedKeyId);
        }

        IReadOnlyList<string> stems = paths.ListRecordStems();
        IndexState allIndex = ReadIndex(paths, checks, pinnedKeyId);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string stem in stems)
        {
            BucketVerification result = VerifyBucket(paths, checks, stem, null, pinnedKeyId, allIndex);
            seen.Add(result.Bucket);
            results.Add(result);
        }

        foreach (string listed in allIndex.Buckets?.Order(StringComparer.Ordinal) ?? Enumerable.Empty<string>())
        {
            if (!seen.Contains(listed))
            {
                string stem = BucketName.FileStem(listed);
                results.Add(File.Exists(paths.RecordFile(stem))
                    ? VerifyBucket(paths, checks, stem, listed, pinnedKeyId, allIndex)
                    : MissingOrBeingCreated(paths, checks, stem, listed, pinnedKeyId, allIndex));
            }
        }

        return Summarise(results, allIndex, pinnedKeyId);
    }

    private static VerifyReport Summarise(List<BucketVerification> results, IndexState index, string? pinnedKeyId)
    {
        VerifyFailure? indexFailure = index.Failure(results.Count > 0);
        BucketVerification? firstBad = results.FirstOrDefault(r => !r.Ok);
        string? failureBucket = indexFailure is not null ? "(index)" : firstBad?.Bucket;
        VerifyFailure? failure = indexFailure ?? firstBad?.Failure;
        var keyIds = results.Select(r => r.KeyId).Append(index.KeyId).OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (failure is null && pinnedKeyId is null && keyIds.Count > 1)
        {
            failure = new VerifyFailure("key_mismatch", $"the ledger is signed by {keyIds.Count} different keys ({string.Join(", ", keyIds)})");
            failureBucket = "(all)";
        }

        return new VerifyReport(
            failure is null,
            results.Count,
            results.Sum(r => r.Records),
            pinnedKeyId,
            keyIds,
            failureBucket,
            failure,
            results);
    }

    /// <summary>
    /// A bucket in the index without a record file: deleted, unless its signed checkpoint still
    /// says zero records (a daemon is creating it right now: checkpoint, index, then file).
    /// </summary>
    private static BucketVerification MissingOrBeingCreated(LedgerPaths paths, LedgerChecks checks, string stem, string bucket, string? pinnedKeyId, IndexState index)
    {
        string? keyId = pinnedKeyId ?? index.KeyId;
        if (AtomicFile.ReadOrNull(paths.CheckpointFile(stem)) is { } bytes
            && LedgerChecks.TryParse(bytes, AuditJsonContext.Default.LedgerCheckpoint, out LedgerCheckpoint? checkpoint, out _)
            && checkpoint!.RecordCount == 0
            && checkpoint.LastRecordHash is null
            && string.Equals(checkpoint.Bucket, bucket, StringComparison.Ordinal)
            && checks.CheckSignature(
                checkpoint.SignatureAlg,
                checkpoint.KeyId,
                checkpoint.Signature,
                LedgerEncoding.CheckpointMessage(checkpoint.Bucket, 0, null, checkpoint.SignatureAlg, checkpoint.KeyId),
                keyId,
                null,
                "checkpoint") is null)
        {
            return new BucketVerification(bucket, paths.RecordFile(stem), 0, 0, checkpoint.KeyId, 0, null);
        }

        return new BucketVerification(bucket, paths.RecordFile(stem), 0, null, null, 0,
            new VerifyFailure("bucket_missing", "the signed bucket index lists this bucket but its record file is gone"));
    }

    private static BucketVerification VerifyBucket(LedgerPaths paths, LedgerChecks checks, string stem, string? bucket, string? pinnedKeyId, IndexState index)
    {
        string file = paths.RecordFile(stem);
        string name = bucket ?? stem;
        string? keyId = pinnedKeyId ?? index.KeyId;

        // The checkpoint first: it names the bucket (for hashed file names) and says how long the file must be.
        LedgerCheckpoint? checkpoint = null;
        VerifyFailure? checkpointFailure = null;
        if (AtomicFile.ReadOrNull(paths.CheckpointFile(stem)) is not { } checkpointBytes)
        {
            checkpointFailure = new("checkpoint_missing", "the signed checkpoint is missing (deleted, possibly with records from the tail)");
        }
        else if (!LedgerChecks.TryParse(checkpointBytes, AuditJsonContext.Default.LedgerCheckpoint, out checkpoint, out string? error))
        {
            checkpointFailure = new("checkpoint_invalid", $"the checkpoint is not valid ({error})");
            checkpoint = null;
        }
        else if (!string.Equals(BucketName.FileStem(checkpoint!.Bucket), stem, StringComparison.Ordinal))
        {
            checkpointFailure = new("checkpoint_invalid", $"the checkpoint names bucket '{LedgerChecks.Printable(checkpoint.Bucket)}', which is not stored in this file");
        }
        else
        {
            name = bucket ?? checkpoint.Bucket;
        }

        long count = 0;
        long torn = 0;
        string? prev = null;
        string? hashAtCheckpoint = null;
        VerifyFailure? failure = null;
        long wanted = checkpoint is { RecordCount: > 0 } ? checkpoint.RecordCount - 1 : -1;
        try
        {
            using RecordFileReader reader = RecordFileReader.Open(file);
            var lines = new List<byte[]>(Chunk);
            bool more = true;
            while (more && failure is null)
            {
                lines.Clear();
                while (lines.Count < Chunk && reader.ReadLine() is { } line)
                {
                    lines.Add(line);
                }

                more = lines.Count == Chunk;
                if (lines.Count == 0)
                {
                    break;
                }

                // The first record fixes the bucket name (hashed stems without checkpoint) and, without a pin or index, the key.
                if (count == 0 && LedgerChecks.TryParseRecord(lines[0], out LedgerRecord? first, out _))
                {
                    if (checkpoint is null && bucket is null)
                    {
                        name = BucketName.For(first!);
                    }

                    keyId ??= first!.KeyId;
                }

                var parsed = new LedgerRecord?[lines.Count];
                var failures = new VerifyFailure?[lines.Count];
                long baseIndex = count;
                string bucketName = name;
                string? expectedKey = keyId;
                Parallel.For(0, lines.Count, i =>
                {
                    if (!LedgerChecks.TryParseRecord(lines[i], out LedgerRecord? record, out VerifyFailure? parseFailure))
                    {
                        failures[i] = parseFailure! with { Index = baseIndex + i };
                        return;
                    }

                    parsed[i] = record;
                    failures[i] = checks.CheckRecord(record!, baseIndex + i, bucketName, expectedKey);
                });

                for (int i = 0; i < lines.Count; i++)
                {
                    if (failures[i] is { } f)
                    {
                        failure = f;
                        break;
                    }

                    LedgerRecord r = parsed[i]!;
                    if (!string.Equals(r.PrevHash, prev, StringComparison.Ordinal))
                    {
                        failure = new VerifyFailure(
                            "broken_link",
                            prev is null
                                ? "the first record of a bucket must have no prev_hash (records before it were deleted)"
                                : "prev_hash does not match the previous record's record_hash (a record was deleted, inserted or reordered)",
                            count);
                        break;
                    }

                    if (count == wanted)
                    {
                        hashAtCheckpoint = r.RecordHash;
                    }

                    prev = r.RecordHash;
                    count++;
                }
            }

            if (failure is null)
            {
                while (reader.ReadLine() is not null)
                {
                    count++;
                }

                torn = reader.TornTailBytes;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            failure = new VerifyFailure("unreadable", $"the bucket file cannot be read ({Kheish.Core.Errors.IoReason.Of(ex)})", count);
        }

        failure ??= checkpointFailure ?? CheckCheckpoint(checks, checkpoint!, count, hashAtCheckpoint, keyId);
        if (failure is null && index.Buckets is not null && !index.Buckets.Contains(name))
        {
            failure = new VerifyFailure("bucket_not_indexed", "the bucket is not listed in the signed bucket index");
        }

        return new BucketVerification(name, file, count, checkpoint?.RecordCount, keyId ?? checkpoint?.KeyId, torn, failure);
    }

    private static VerifyFailure? CheckCheckpoint(LedgerChecks checks, LedgerCheckpoint checkpoint, long count, string? hashAtCheckpoint, string? keyId)
    {
        byte[] message = LedgerEncoding.CheckpointMessage(checkpoint.Bucket, checkpoint.RecordCount, checkpoint.LastRecordHash, checkpoint.SignatureAlg, checkpoint.KeyId);
        if (checks.CheckSignature(checkpoint.SignatureAlg, checkpoint.KeyId, checkpoint.Signature, message, keyId, null, "checkpoint") is { } bad)
        {
            return bad with { Code = bad.Code == "bad_signature" ? "checkpoint_signature" : bad.Code };
        }

        if (checkpoint.RecordCount > count)
        {
            return new VerifyFailure(
                "truncated",
                $"truncated: the checkpoint records {checkpoint.RecordCount} records, the file has {count}",
                count);
        }

        if (checkpoint.RecordCount < 0 || !string.Equals(hashAtCheckpoint, checkpoint.LastRecordHash, StringComparison.Ordinal))
        {
            return new VerifyFailure(
                "checkpoint_mismatch",
                "the checkpoint's last_record_hash differs from the record at its position (records were replaced)",
                checkpoint.RecordCount > 0 ? checkpoint.RecordCount - 1 : null);
        }

        return null;
    }

    private static IndexState ReadIndex(LedgerPaths paths, LedgerChecks checks, string? pinnedKeyId)
    {
        byte[]? bytes;
        try
        {
            bytes = AtomicFile.ReadOrNull(paths.IndexFile);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new IndexState(null, null, new VerifyFailure("index_invalid", $"the bucket index cannot be read ({Kheish.Core.Errors.IoReason.Of(ex)})"));
        }

        if (bytes is null)
        {
            return new IndexState(null, null, null) { Missing = true };
        }

        if (!LedgerChecks.TryParse(bytes, AuditJsonContext.Default.LedgerIndex, out LedgerIndex? index, out string? error))
        {
            return new IndexState(null, null, new VerifyFailure("index_invalid", $"the bucket index is not valid ({error})"));
        }

        byte[] message = LedgerEncoding.IndexMessage(index!.Buckets, index.SignatureAlg, index.KeyId);
        if (checks.CheckSignature(index.SignatureAlg, index.KeyId, index.Signature, message, pinnedKeyId, null, "bucket index") is { } bad)
        {
            return new IndexState(null, index.KeyId, bad with { Code = bad.Code == "bad_signature" ? "index_signature" : bad.Code });
        }

        return new IndexState(index.Buckets.ToHashSet(StringComparer.Ordinal), index.KeyId, null);
    }

    private sealed record IndexState(HashSet<string>? Buckets, string? KeyId, VerifyFailure? Problem)
    {
        public bool Missing { get; init; }

        public VerifyFailure? Failure(bool bucketsExist) =>
            Problem ?? (Missing && bucketsExist
                ? new VerifyFailure("index_missing", "the signed bucket index is missing while buckets exist (deleted, possibly with whole buckets)")
                : null);
    }
}
