using System.Text.Json;
using System.Text.Json.Nodes;
using Kheish.Core.Audit;
using Kheish.Core.Crypto;

namespace Kheish.Core.Tests.Audit;

public sealed class LedgerVerifierTests : IDisposable
{
    private readonly LedgerTestRoot _t = new();

    public void Dispose() => _t.Dispose();

    [Test]
    public async Task An_untouched_ledger_verifies_with_counts()
    {
        await _t.FillAsync("run-1", 5);
        await _t.FillAsync("run-2", 3);

        VerifyReport report = _t.Verify(pinned: _t.Key.PublicKeyHex);

        await Assert.That(report.Ok).IsTrue();
        await Assert.That(report.Buckets).IsEqualTo(2);
        await Assert.That(report.Records).IsEqualTo(8);
        await Assert.That(report.KeyIds).IsEquivalentTo([_t.Key.PublicKeyHex], CollectionOrdering.Matching);
    }

    [Test]
    public async Task An_edited_field_is_reported_at_its_record_index()
    {
        await _t.FillAsync("run-1", 5);
        List<string> lines = _t.Lines("run-1");
        lines[2] = lines[2].Replace("api.example.test", "evil.example.test");
        _t.WriteLines("run-1", lines);

        VerifyReport report = _t.Verify();

        await Assert.That(report.Ok).IsFalse();
        await Assert.That(report.FirstFailure!.Code).IsEqualTo("hash_mismatch");
        await Assert.That(report.FirstFailure.Index).IsEqualTo(2);
        await Assert.That(report.FirstFailureBucket).IsEqualTo("run-1");
    }

    [Test]
    public async Task An_edited_field_with_a_recomputed_hash_fails_the_signature()
    {
        await _t.FillAsync("run-1", 3);
        List<string> lines = _t.Lines("run-1");
        LedgerRecord r = JsonSerializer.Deserialize(lines[1], AuditJsonContext.Default.LedgerRecord)!;
        LedgerRecord forged = r with { Target = "https://evil.test/" };
        string hash = LedgerEncoding.RecordHash(forged);
        lines[1] = System.Text.Encoding.UTF8.GetString(LedgerEncoding.RecordLine(forged with { RecordHash = hash, ActionId = hash }));
        _t.WriteLines("run-1", lines);

        VerifyReport report = _t.Verify();

        await Assert.That(report.FirstFailure!.Code).IsEqualTo("bad_signature");
        await Assert.That(report.FirstFailure.Index).IsEqualTo(1);
    }

    [Test]
    public async Task A_reformatted_line_is_reported_even_when_its_values_are_unchanged()
    {
        await _t.FillAsync("run-1", 3);
        List<string> lines = _t.Lines("run-1");
        lines[1] = lines[1].Replace(",\"kind\"", ", \"kind\"");
        _t.WriteLines("run-1", lines);

        VerifyReport report = _t.Verify();

        await Assert.That(report.FirstFailure!.Code).IsEqualTo("non_canonical_record");
        await Assert.That(report.FirstFailure.Index).IsEqualTo(1);
    }

    [Test]
    public async Task A_deleted_record_breaks_the_link_at_its_position()
    {
        await _t.FillAsync("run-1", 5);
        List<string> lines = _t.Lines("run-1");
        lines.RemoveAt(2);
        _t.WriteLines("run-1", lines);

        VerifyReport report = _t.Verify();

        await Assert.That(report.FirstFailure!.Code).IsEqualTo("broken_link");
        await Assert.That(report.FirstFailure.Index).IsEqualTo(2);
    }

    [Test]
    public async Task A_deleted_first_record_is_reported()
    {
        await _t.FillAsync("run-1", 3);
        _t.WriteLines("run-1", _t.Lines("run-1").Skip(1));

        VerifyReport report = _t.Verify();

        await Assert.That(report.FirstFailure!.Code).IsEqualTo("broken_link");
        await Assert.That(report.FirstFailure.Index).IsEqualTo(0);
    }

    [Test]
    public async Task Reordered_records_are_reported()
    {
        await _t.FillAsync("run-1", 5);
        List<string> lines = _t.Lines("run-1");
        (lines[1], lines[3]) = (lines[3], lines[1]);
        _t.WriteLines("run-1", lines);

        VerifyReport report = _t.Verify();

        await Assert.That(report.FirstFailure!.Code).IsEqualTo("broken_link");
        await Assert.That(report.FirstFailure.Index).IsEqualTo(1);
    }

    [Test]
    public async Task A_truncated_tail_is_reported_as_truncated()
    {
        await _t.FillAsync("run-1", 5);
        _t.WriteLines("run-1", _t.Lines("run-1").Take(3));

        VerifyReport report = _t.Verify();

        await Assert.That(report.FirstFailure!.Code).IsEqualTo("truncated");
        await Assert.That(report.FirstFailure.Reason).Contains("checkpoint records 5 records, the file has 3");
    }

    [Test]
    public async Task A_deleted_checkpoint_and_tail_are_detected_with_a_pinned_key()
    {
        await _t.FillAsync("run-1", 5);
        _t.WriteLines("run-1", _t.Lines("run-1").Take(3));
        File.Delete(_t.CheckpointFile("run-1"));

        VerifyReport report = _t.Verify(pinned: _t.Key.PublicKeyHex);

        await Assert.That(report.Ok).IsFalse();
        await Assert.That(report.FirstFailure!.Code).IsEqualTo("checkpoint_missing");
    }

    [Test]
    public async Task A_deleted_bucket_is_detected_through_the_signed_index()
    {
        await _t.FillAsync("run-1", 2);
        await _t.FillAsync("run-2", 2);
        File.Delete(_t.RecordFile("run-2"));
        File.Delete(_t.CheckpointFile("run-2"));

        VerifyReport report = _t.Verify(pinned: _t.Key.PublicKeyHex);

        await Assert.That(report.FirstFailure!.Code).IsEqualTo("bucket_missing");
        await Assert.That(report.FirstFailureBucket).IsEqualTo("run-2");
    }

    [Test]
    public async Task A_deleted_index_is_detected()
    {
        await _t.FillAsync("run-1", 2);
        File.Delete(_t.Paths.IndexFile);

        VerifyReport report = _t.Verify(pinned: _t.Key.PublicKeyHex);

        await Assert.That(report.FirstFailure!.Code).IsEqualTo("index_missing");
    }

    [Test]
    public async Task A_ledger_re_signed_with_another_key_is_detected_with_the_pinned_key()
    {
        await _t.FillAsync("run-1", 3);
        string original = _t.Key.PublicKeyHex;
        using var attacker = Ed25519PrivateKey.Generate();
        ReSignEverything(attacker);

        VerifyReport unpinned = _t.Verify();
        VerifyReport pinned = _t.Verify(pinned: original);

        await Assert.That(unpinned.Ok).IsTrue().Because("a consistent re-signing is only detectable against a pinned key");
        await Assert.That(unpinned.KeyIds).IsEquivalentTo([attacker.PublicKeyHex], CollectionOrdering.Matching);
        await Assert.That(pinned.Ok).IsFalse();
        await Assert.That(pinned.FirstFailure!.Code).IsEqualTo("key_mismatch");
    }

    [Test]
    public async Task A_checkpoint_signed_by_another_key_is_reported()
    {
        await _t.FillAsync("run-1", 2);
        using var attacker = Ed25519PrivateKey.Generate();
        var cp = JsonSerializer.Deserialize(File.ReadAllBytes(_t.CheckpointFile("run-1")), AuditJsonContext.Default.LedgerCheckpoint)!;
        File.WriteAllBytes(_t.CheckpointFile("run-1"), JsonSerializer.SerializeToUtf8Bytes(SignCheckpoint(cp with { RecordCount = 1, LastRecordHash = null }, attacker), AuditJsonContext.Default.LedgerCheckpoint));

        VerifyReport report = _t.Verify();

        await Assert.That(report.FirstFailure!.Code).IsEqualTo("key_mismatch");
    }

    [Test]
    public async Task A_record_moved_to_another_bucket_is_reported()
    {
        await _t.FillAsync("run-1", 1);
        await _t.FillAsync("run-2", 1);
        _t.WriteLines("run-2", _t.Lines("run-1"));

        VerifyReport report = _t.Verify("run-2");

        await Assert.That(report.FirstFailure!.Code).IsEqualTo("wrong_bucket");
    }

    [Test]
    public async Task An_unknown_field_is_a_malformed_record()
    {
        await _t.FillAsync("run-1", 2);
        List<string> lines = _t.Lines("run-1");
        lines[1] = lines[1].TrimEnd('}') + ",\"extra\":1}";
        _t.WriteLines("run-1", lines);

        VerifyReport report = _t.Verify();

        await Assert.That(report.FirstFailure!.Code).IsEqualTo("malformed_record");
        await Assert.That(report.FirstFailure.Index).IsEqualTo(1);
    }

    [Test]
    public async Task A_torn_final_line_is_tolerated_and_reported()
    {
        await _t.FillAsync("run-1", 2);
        await File.AppendAllTextAsync(_t.RecordFile("run-1"), "{\"action");

        VerifyReport report = _t.Verify();

        await Assert.That(report.Ok).IsTrue();
        await Assert.That((await Assert.That(report.Results).HasSingleItem())!.TornTailBytes).IsEqualTo(8);
    }

    [Test]
    public async Task A_live_ledger_verifies_while_appends_and_new_buckets_are_written()
    {
        await using ExternalActionLedger ledger = _t.Open();
        using var stop = new CancellationTokenSource();
        Task writers = Task.WhenAll(Enumerable.Range(0, 4).Select(p => Task.Run(async () =>
        {
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                await Assert.That((await ledger.AppendAsync(LedgerTestRoot.Event($"run-{p}-{i / 5}"))).IsOk).IsTrue();
            }
        })));

        var reports = new List<VerifyReport>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (reports.Count < 15 || (reports[^1].Buckets < 8 && clock.Elapsed < TimeSpan.FromSeconds(30)))
        {
            reports.Add(_t.Verify(pinned: _t.Key.PublicKeyHex));
        }

        await stop.CancelAsync();
        await writers;

        foreach (VerifyReport r in reports)
        {
            await Assert.That(r.Ok).IsTrue().Because($"{r.FirstFailureBucket}: {r.FirstFailure?.Code} {r.FirstFailure?.Reason}");
        }

        await Assert.That(reports[^1].Buckets >= 8).IsTrue().Because($"only {reports[^1].Buckets} buckets were created while verifying");
    }

    [Test]
    public async Task Verifying_an_unknown_run_is_not_found()
    {
        await Assert.That(LedgerVerifier.Verify(_t.Root, "nope", null).Error?.Code).IsEqualTo("run_not_found");
    }

    [Test]
    public async Task Any_flipped_byte_in_a_record_line_is_reported_at_that_record()
    {
        await _t.FillAsync("run-1", 4);
        byte[] original = File.ReadAllBytes(_t.RecordFile("run-1"));
        List<string> lines = _t.Lines("run-1");
        int[] starts = lines.Select((l, i) => lines.Take(i).Sum(x => x.Length + 1)).ToArray();
        var random = new Random(42);
        for (int trial = 0; trial < 60; trial++)
        {
            int record = random.Next(lines.Count);
            int offset = starts[record] + random.Next(lines[record].Length);
            byte[] tampered = (byte[])original.Clone();
            tampered[offset] ^= (byte)(1 << random.Next(7));
            if (tampered[offset] == (byte)'\n')
            {
                continue;
            }

            File.WriteAllBytes(_t.RecordFile("run-1"), tampered);
            VerifyReport report = _t.Verify();
            await Assert.That(report.Ok).IsFalse().Because($"byte {offset} of record {record} flipped and not detected");
            await Assert.That(report.FirstFailure!.Index).IsEqualTo(record);
        }
    }

    private void ReSignEverything(Ed25519PrivateKey attacker)
    {
        foreach (string file in Directory.GetFiles(_t.Paths.RecordsDirectory, "*.jsonl"))
        {
            var lines = File.ReadAllLines(file).Select(l =>
            {
                LedgerRecord r = JsonSerializer.Deserialize(l, AuditJsonContext.Default.LedgerRecord)!;
                r = r with { KeyId = attacker.PublicKeyHex, Signature = Convert.ToHexStringLower(attacker.Sign(Convert.FromHexString(r.RecordHash))) };
                return System.Text.Encoding.UTF8.GetString(LedgerEncoding.RecordLine(r));
            });
            File.WriteAllText(file, string.Concat(lines.Select(l => l + "\n")));
        }

        foreach (string file in Directory.GetFiles(_t.Paths.CheckpointsDirectory, "*.json"))
        {
            if (Path.GetFileName(file) == "_index.json")
            {
                var index = JsonSerializer.Deserialize(File.ReadAllBytes(file), AuditJsonContext.Default.LedgerIndex)!;
                byte[] message = LedgerEncoding.IndexMessage(index.Buckets, "ed25519", attacker.PublicKeyHex);
                index = index with { KeyId = attacker.PublicKeyHex, Signature = Convert.ToHexStringLower(attacker.Sign(message)) };
                File.WriteAllBytes(file, JsonSerializer.SerializeToUtf8Bytes(index, AuditJsonContext.Default.LedgerIndex));
                continue;
            }

            var cp = JsonSerializer.Deserialize(File.ReadAllBytes(file), AuditJsonContext.Default.LedgerCheckpoint)!;
            File.WriteAllBytes(file, JsonSerializer.SerializeToUtf8Bytes(SignCheckpoint(cp, attacker), AuditJsonContext.Default.LedgerCheckpoint));
        }
    }

    private static LedgerCheckpoint SignCheckpoint(LedgerCheckpoint cp, Ed25519PrivateKey key)
    {
        byte[] message = LedgerEncoding.CheckpointMessage(cp.Bucket, cp.RecordCount, cp.LastRecordHash, "ed25519", key.PublicKeyHex);
        return cp with { KeyId = key.PublicKeyHex, Signature = Convert.ToHexStringLower(key.Sign(message)) };
    }
}
