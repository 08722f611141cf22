using System.Text.Json;
using Kheish.Core.Audit;
using Kheish.Core.Crypto;

namespace Kheish.Core.Tests.Audit;

public sealed class ExternalActionLedgerTests : IDisposable
{
    private readonly LedgerTestRoot _t = new();

    public void Dispose() => _t.Dispose();

    [Fact]
    public async Task Records_chain_each_prev_hash_to_the_previous_record_hash()
    {
        List<LedgerRecord> records = await _t.FillAsync("run-1", 5);

        Assert.Null(records[0].PrevHash);
        for (int i = 1; i < records.Count; i++)
        {
            Assert.Equal(records[i - 1].RecordHash, records[i].PrevHash);
        }
    }

    [Fact]
    public async Task A_record_carries_its_hash_as_action_id_and_an_ed25519_signature_over_the_digest()
    {
        LedgerRecord r = (await _t.FillAsync("run-1", 1))[0];

        Assert.Equal(r.RecordHash, r.ActionId);
        Assert.Equal(LedgerEncoding.RecordHash(r), r.RecordHash);
        Assert.Equal("ed25519", r.SignatureAlg);
        Assert.Equal(_t.Key.PublicKeyHex, r.KeyId);
        Assert.True(Ed25519.Verify(_t.Key.PublicKey, Convert.FromHexString(r.RecordHash), Convert.FromHexString(r.Signature)));
    }

    [Fact]
    public async Task Each_bucket_has_its_own_chain()
    {
        await using ExternalActionLedger ledger = _t.Open();
        LedgerRecord a1 = (await ledger.AppendAsync(LedgerTestRoot.Event("run-a"))).Value;
        LedgerRecord b1 = (await ledger.AppendAsync(LedgerTestRoot.Event(run: null, session: "s1"))).Value;
        LedgerRecord u1 = (await ledger.AppendAsync(LedgerTestRoot.Event(run: null))).Value;
        LedgerRecord a2 = (await ledger.AppendAsync(LedgerTestRoot.Event("run-a"))).Value;

        Assert.Null(b1.PrevHash);
        Assert.Null(u1.PrevHash);
        Assert.Equal(a1.RecordHash, a2.PrevHash);
        Assert.True(File.Exists(_t.RecordFile("session-s1")));
        Assert.True(File.Exists(_t.RecordFile("unscoped")));
    }

    [Fact]
    public async Task Bucket_files_and_checkpoints_are_private()
    {
        await _t.FillAsync("run-1", 2);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_t.RecordFile("run-1")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_t.CheckpointFile("run-1")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_t.Paths.RecordsDirectory));
    }

    [Fact]
    public async Task Closing_the_ledger_leaves_a_checkpoint_that_covers_every_record()
    {
        List<LedgerRecord> records = await _t.FillAsync("run-1", 7);

        var checkpoint = JsonSerializer.Deserialize(File.ReadAllBytes(_t.CheckpointFile("run-1")), AuditJsonContext.Default.LedgerCheckpoint)!;

        Assert.Equal("run-1", checkpoint.Bucket);
        Assert.Equal(7, checkpoint.RecordCount);
        Assert.Equal(records[^1].RecordHash, checkpoint.LastRecordHash);
    }

    [Fact]
    public async Task Concurrent_appends_from_many_threads_all_land_in_one_valid_chain()
    {
        const int producers = 16, each = 50;
        var acked = new System.Collections.Concurrent.ConcurrentBag<string>();
        await using (ExternalActionLedger ledger = _t.Open())
        {
            await Task.WhenAll(Enumerable.Range(0, producers).Select(p => Task.Run(async () =>
            {
                for (int i = 0; i < each; i++)
                {
                    acked.Add((await ledger.AppendAsync(LedgerTestRoot.Event("run-storm"))).Value.ActionId);
                }
            })));
        }

        VerifyReport report = _t.Verify(pinned: _t.Key.PublicKeyHex);
        Assert.True(report.Ok, report.FirstFailure?.Reason);
        Assert.Equal(producers * each, report.Records);
        Assert.Equal(acked.Order(), _t.Lines("run-storm").Select(l => JsonDocument.Parse(l).RootElement.GetProperty("action_id").GetString()!).Order());
    }

    [Fact]
    public async Task Concurrent_appends_share_batches_and_the_stats_count_every_record()
    {
        const int producers = 16, each = 25;
        await using ExternalActionLedger ledger = _t.Open();
        // Dedicated threads, released together: concurrency that does not depend on the pool's mood.
        using var start = new Barrier(producers);
        var threads = Enumerable.Range(0, producers).Select(_ => new Thread(() =>
        {
            start.SignalAndWait();
            for (int i = 0; i < each; i++)
            {
                Assert.True(ledger.AppendAsync(LedgerTestRoot.Event("run-batch")).GetAwaiter().GetResult().IsOk);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        LedgerStats stats = ledger.Stats;
        Assert.Equal(producers * each, stats.Records);
        Assert.True(stats.Batches < stats.Records, $"{stats.Batches} batches for {stats.Records} records: no group commit happened");
    }

    [Fact]
    public async Task Sixteen_producers_leave_a_ledger_that_reopens_healthy_with_every_record()
    {
        const int producers = 16, each = 20;
        await using ExternalActionLedger ledger = _t.Open();
        await Task.WhenAll(Enumerable.Range(0, producers).Select(_ => Task.Run(async () =>
        {
            for (int i = 0; i < each; i++)
            {
                await ledger.AppendAsync(LedgerTestRoot.Event("run-gc"));
            }
        })));

        await ledger.DisposeAsync();
        await using ExternalActionLedger reopened = _t.Open();
        Assert.True(reopened.Health.Healthy);
        Assert.Equal(producers * each, _t.Lines("run-gc").Count);
    }

    [Fact]
    public async Task Reopening_continues_the_chain_from_the_stored_tail()
    {
        List<LedgerRecord> first = await _t.FillAsync("run-1", 3);

        List<LedgerRecord> second = await _t.FillAsync("run-1", 1);

        Assert.Equal(first[^1].RecordHash, second[0].PrevHash);
        Assert.True(_t.Verify().Ok);
    }

    [Fact]
    public async Task An_invalid_event_is_a_bad_request_and_writes_nothing()
    {
        await using ExternalActionLedger ledger = _t.Open();

        var result = await ledger.AppendAsync(new ExternalActionEvent(ActionPhase.Started, "probe", "t\nx") { RunId = "run-1" });

        Assert.Equal("invalid_external_action", result.Error?.Code);
        Assert.False(File.Exists(_t.RecordFile("run-1")));
    }

    [Fact]
    public async Task A_bucket_whose_tail_was_edited_is_unavailable_on_restart_while_other_buckets_keep_working()
    {
        await using (ExternalActionLedger ledger = _t.Open())
        {
            await ledger.AppendAsync(LedgerTestRoot.Event("run-bad"));
            await ledger.AppendAsync(LedgerTestRoot.Event("run-good"));
        }

        List<string> lines = _t.Lines("run-bad");
        lines[^1] = lines[^1].Replace("\"kind\":\"probe\"", "\"kind\":\"prube\"");
        _t.WriteLines("run-bad", lines);

        await using ExternalActionLedger reopened = _t.Open();
        var bad = await reopened.AppendAsync(LedgerTestRoot.Event("run-bad"));
        var good = await reopened.AppendAsync(LedgerTestRoot.Event("run-good"));

        Assert.Equal(ExternalActionLedger.UnavailableCode, bad.Error?.Code);
        Assert.StartsWith("external action audit unavailable (bucket run-bad", bad.Error!.Message);
        Assert.True(good.IsOk);
        Assert.False(reopened.Health.Healthy);
        Assert.Equal(["run-bad"], reopened.Health.UnavailableBuckets.Select(b => b.Bucket));
    }

    [Fact]
    public async Task A_bucket_that_cannot_be_written_fails_its_appends_and_not_the_others()
    {
        await using ExternalActionLedger ledger = _t.Open();
        // A directory squatting on the bucket's file name: creating the record file fails.
        Directory.CreateDirectory(_t.RecordFile("run-x"));

        var blocked = await ledger.AppendAsync(LedgerTestRoot.Event("run-x"));
        var other = await ledger.AppendAsync(LedgerTestRoot.Event("run-y"));

        Assert.Equal(ExternalActionLedger.UnavailableCode, blocked.Error?.Code);
        Assert.True(other.IsOk);
        Assert.Contains(ledger.Health.UnavailableBuckets, b => b.Bucket == "run-x");
    }

    [Fact]
    public async Task A_truncated_bucket_is_unavailable_on_restart()
    {
        await _t.FillAsync("run-1", 4);
        List<string> lines = _t.Lines("run-1");
        _t.WriteLines("run-1", lines.Take(2));

        await using ExternalActionLedger reopened = _t.Open();

        UnavailableBucket bucket = Assert.Single(reopened.Health.UnavailableBuckets);
        Assert.Contains("truncated", bucket.Reason);
    }

    [Fact]
    public async Task A_torn_final_line_is_trimmed_on_restart_and_the_chain_continues()
    {
        List<LedgerRecord> records = await _t.FillAsync("run-1", 2);
        await File.AppendAllTextAsync(_t.RecordFile("run-1"), "{\"action_id\":\"abc");

        await using (ExternalActionLedger reopened = _t.Open())
        {
            Assert.True(reopened.Health.Healthy);
            LedgerRecord next = (await reopened.AppendAsync(LedgerTestRoot.Event("run-1"))).Value;
            Assert.Equal(records[^1].RecordHash, next.PrevHash);
        }

        Assert.True(_t.Verify().Ok);
    }

    [Fact]
    public async Task A_ledger_signed_by_another_key_is_unavailable_to_a_different_key()
    {
        await _t.FillAsync("run-1", 2);
        using var other = Ed25519PrivateKey.Generate();

        await using ExternalActionLedger reopened = _t.Open(other);

        Assert.False(reopened.Health.Healthy);
        Assert.NotNull(reopened.Health.IndexProblem);
        Assert.Equal(ExternalActionLedger.UnavailableCode, (await reopened.AppendAsync(LedgerTestRoot.Event("run-1"))).Error?.Code);
        var fresh = await reopened.AppendAsync(LedgerTestRoot.Event("run-new"));
        Assert.Equal(ExternalActionLedger.UnavailableCode, fresh.Error?.Code);
        Assert.StartsWith("external action audit unavailable (bucket run-new: new buckets cannot be created:", fresh.Error!.Message);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(fresh.Error.Message, "audit unavailable"));
    }

    [Fact]
    public async Task A_second_writer_on_the_same_ledger_is_refused()
    {
        await using ExternalActionLedger first = _t.Open();

        var second = ExternalActionLedger.Open(_t.Root, _t.Key);

        Assert.Equal("ledger_locked", second.Error?.Code);
    }

    [Fact]
    public async Task A_run_id_with_path_traversal_stays_inside_the_ledger_directory()
    {
        await using (ExternalActionLedger ledger = _t.Open())
        {
            Assert.True((await ledger.AppendAsync(LedgerTestRoot.Event("../../etc/passwd"))).IsOk);
        }

        string[] files = Directory.GetFiles(_t.Paths.RecordsDirectory, "*.jsonl");
        Assert.Single(files);
        Assert.Matches("^_[0-9a-f]{64}\\.jsonl$", Path.GetFileName(files[0]));
        Assert.False(File.Exists(Path.Combine(_t.Path, "etc", "passwd.jsonl")));
        VerifyReport report = _t.Verify();
        Assert.True(report.Ok, report.FirstFailure?.Reason);
        Assert.Equal("../../etc/passwd", Assert.Single(report.Results).Bucket);
        Assert.Single(_t.Open().ReadRun("../../etc/passwd").Value);
    }

    [Fact]
    public async Task Idle_buckets_close_their_files_beyond_the_open_file_limit()
    {
        await using (ExternalActionLedger ledger = ExternalActionLedger.Open(_t.Root, _t.Key, new LedgerOptions { MaxOpenFiles = 2 }).Value)
        {
            for (int round = 0; round < 3; round++)
            {
                for (int run = 0; run < 6; run++)
                {
                    Assert.True((await ledger.AppendAsync(LedgerTestRoot.Event($"run-{run}"))).IsOk);
                }
            }

            Assert.True(ledger.OpenFiles <= 3, $"{ledger.OpenFiles} files open");
        }

        VerifyReport report = _t.Verify(pinned: _t.Key.PublicKeyHex);
        Assert.True(report.Ok, report.FirstFailure?.Reason);
        Assert.Equal(18, report.Records);
    }

    [Fact]
    public async Task A_started_record_is_on_disk_when_its_append_completes()
    {
        await using ExternalActionLedger ledger = _t.Open();

        LedgerRecord r = (await ledger.AppendAsync(LedgerTestRoot.Event("run-1"))).Value;

        Assert.Contains(r.ActionId, File.ReadAllText(_t.RecordFile("run-1")));
    }
}
