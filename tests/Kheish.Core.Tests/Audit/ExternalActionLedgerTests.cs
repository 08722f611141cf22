using System.Text.Json;
using Kheish.Core.Audit;
using Kheish.Core.Crypto;

namespace Kheish.Core.Tests.Audit;

public sealed class ExternalActionLedgerTests : IDisposable
{
    private readonly LedgerTestRoot _t = new();

    public void Dispose() => _t.Dispose();

    [Test]
    public async Task Records_chain_each_prev_hash_to_the_previous_record_hash()
    {
        List<LedgerRecord> records = await _t.FillAsync("run-1", 5);

        await Assert.That(records[0].PrevHash).IsNull();
        for (int i = 1; i < records.Count; i++)
        {
            await Assert.That(records[i].PrevHash).IsEqualTo(records[i - 1].RecordHash);
        }
    }

    [Test]
    public async Task A_record_carries_its_hash_as_action_id_and_an_ed25519_signature_over_the_digest()
    {
        LedgerRecord r = (await _t.FillAsync("run-1", 1))[0];

        await Assert.That(r.ActionId).IsEqualTo(r.RecordHash);
        await Assert.That(r.RecordHash).IsEqualTo(LedgerEncoding.RecordHash(r));
        await Assert.That(r.SignatureAlg).IsEqualTo("ed25519");
        await Assert.That(r.KeyId).IsEqualTo(_t.Key.PublicKeyHex);
        await Assert.That(Ed25519.Verify(_t.Key.PublicKey, Convert.FromHexString(r.RecordHash), Convert.FromHexString(r.Signature))).IsTrue();
    }

    [Test]
    public async Task Each_bucket_has_its_own_chain()
    {
        await using ExternalActionLedger ledger = _t.Open();
        LedgerRecord a1 = (await ledger.AppendAsync(LedgerTestRoot.Event("run-a"))).Value;
        LedgerRecord b1 = (await ledger.AppendAsync(LedgerTestRoot.Event(run: null, session: "s1"))).Value;
        LedgerRecord u1 = (await ledger.AppendAsync(LedgerTestRoot.Event(run: null))).Value;
        LedgerRecord a2 = (await ledger.AppendAsync(LedgerTestRoot.Event("run-a"))).Value;

        await Assert.That(b1.PrevHash).IsNull();
        await Assert.That(u1.PrevHash).IsNull();
        await Assert.That(a2.PrevHash).IsEqualTo(a1.RecordHash);
        await Assert.That(File.Exists(_t.RecordFile("session-s1"))).IsTrue();
        await Assert.That(File.Exists(_t.RecordFile("unscoped"))).IsTrue();
    }

    [Test]
    public async Task Bucket_files_and_checkpoints_are_private()
    {
        await _t.FillAsync("run-1", 2);

        await Assert.That(File.GetUnixFileMode(_t.RecordFile("run-1"))).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await Assert.That(File.GetUnixFileMode(_t.CheckpointFile("run-1"))).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await Assert.That(File.GetUnixFileMode(_t.Paths.RecordsDirectory)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    [Test]
    public async Task Closing_the_ledger_leaves_a_checkpoint_that_covers_every_record()
    {
        List<LedgerRecord> records = await _t.FillAsync("run-1", 7);

        var checkpoint = JsonSerializer.Deserialize(File.ReadAllBytes(_t.CheckpointFile("run-1")), AuditJsonContext.Default.LedgerCheckpoint)!;

        await Assert.That(checkpoint.Bucket).IsEqualTo("run-1");
        await Assert.That(checkpoint.RecordCount).IsEqualTo(7);
        await Assert.That(checkpoint.LastRecordHash).IsEqualTo(records[^1].RecordHash);
    }

    [Test]
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
        await Assert.That(report.Ok).IsTrue();
        await Assert.That(report.Records).IsEqualTo(producers * each);
        await Assert.That(_t.Lines("run-storm").Select(l => JsonDocument.Parse(l).RootElement.GetProperty("action_id").GetString()!).Order()).IsEquivalentTo(acked.Order(), CollectionOrdering.Matching);
    }

    [Test]
    public async Task Concurrent_appends_share_batches_and_the_stats_count_every_record()
    {
        const int producers = 16, each = 25;
        await using ExternalActionLedger ledger = _t.Open();
        // Dedicated threads, released together: concurrency that does not depend on the pool's mood.
        using var start = new Barrier(producers);
        int refused = 0;
        var threads = Enumerable.Range(0, producers).Select(_ => new Thread(() =>
        {
            start.SignalAndWait();
            for (int i = 0; i < each; i++)
            {
                if (!ledger.AppendAsync(LedgerTestRoot.Event("run-batch")).GetAwaiter().GetResult().IsOk)
                {
                    Interlocked.Increment(ref refused);
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        await Assert.That(refused).IsEqualTo(0);

        LedgerStats stats = ledger.Stats;
        await Assert.That(stats.Records).IsEqualTo(producers * each);
        await Assert.That(stats.Batches < stats.Records).IsTrue().Because($"{stats.Batches} batches for {stats.Records} records: no group commit happened");
    }

    [Test]
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
        await Assert.That(reopened.Health.Healthy).IsTrue();
        await Assert.That(_t.Lines("run-gc").Count).IsEqualTo(producers * each);
    }

    [Test]
    public async Task Reopening_continues_the_chain_from_the_stored_tail()
    {
        List<LedgerRecord> first = await _t.FillAsync("run-1", 3);

        List<LedgerRecord> second = await _t.FillAsync("run-1", 1);

        await Assert.That(second[0].PrevHash).IsEqualTo(first[^1].RecordHash);
        await Assert.That(_t.Verify().Ok).IsTrue();
    }

    [Test]
    public async Task An_invalid_event_is_a_bad_request_and_writes_nothing()
    {
        await using ExternalActionLedger ledger = _t.Open();

        var result = await ledger.AppendAsync(new ExternalActionEvent(ActionPhase.Started, "probe", "t\nx") { RunId = "run-1" });

        await Assert.That(result.Error?.Code).IsEqualTo("invalid_external_action");
        await Assert.That(File.Exists(_t.RecordFile("run-1"))).IsFalse();
    }

    [Test]
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

        await Assert.That(bad.Error?.Code).IsEqualTo(ExternalActionLedger.UnavailableCode);
        await Assert.That(bad.Error!.Message).StartsWith("external action audit unavailable (bucket run-bad");
        await Assert.That(good.IsOk).IsTrue();
        await Assert.That(reopened.Health.Healthy).IsFalse();
        await Assert.That(reopened.Health.UnavailableBuckets.Select(b => b.Bucket)).IsEquivalentTo(["run-bad"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task A_bucket_that_cannot_be_written_fails_its_appends_and_not_the_others()
    {
        await using ExternalActionLedger ledger = _t.Open();
        // A directory squatting on the bucket's file name: creating the record file fails.
        Directory.CreateDirectory(_t.RecordFile("run-x"));

        var blocked = await ledger.AppendAsync(LedgerTestRoot.Event("run-x"));
        var other = await ledger.AppendAsync(LedgerTestRoot.Event("run-y"));

        await Assert.That(blocked.Error?.Code).IsEqualTo(ExternalActionLedger.UnavailableCode);
        await Assert.That(other.IsOk).IsTrue();
        await Assert.That(ledger.Health.UnavailableBuckets).Contains(b => b.Bucket == "run-x");
    }

    [Test]
    public async Task A_truncated_bucket_is_unavailable_on_restart()
    {
        await _t.FillAsync("run-1", 4);
        List<string> lines = _t.Lines("run-1");
        _t.WriteLines("run-1", lines.Take(2));

        await using ExternalActionLedger reopened = _t.Open();
        await reopened.OpenChecks;

        UnavailableBucket bucket = (await Assert.That(reopened.Health.UnavailableBuckets).HasSingleItem())!;
        await Assert.That(bucket.Reason).Contains("truncated");
    }

    [Test]
    public async Task A_torn_final_line_is_trimmed_on_restart_and_the_chain_continues()
    {
        List<LedgerRecord> records = await _t.FillAsync("run-1", 2);
        await File.AppendAllTextAsync(_t.RecordFile("run-1"), "{\"action_id\":\"abc");

        await using (ExternalActionLedger reopened = _t.Open())
        {
            await Assert.That(reopened.Health.Healthy).IsTrue();
            LedgerRecord next = (await reopened.AppendAsync(LedgerTestRoot.Event("run-1"))).Value;
            await Assert.That(next.PrevHash).IsEqualTo(records[^1].RecordHash);
        }

        await Assert.That(_t.Verify().Ok).IsTrue();
    }

    [Test]
    public async Task A_ledger_signed_by_another_key_is_unavailable_to_a_different_key()
    {
        await _t.FillAsync("run-1", 2);
        using var other = Ed25519PrivateKey.Generate();

        await using ExternalActionLedger reopened = _t.Open(other);

        await Assert.That(reopened.Health.Healthy).IsFalse();
        await Assert.That(reopened.Health.IndexProblem).IsNotNull();
        await Assert.That((await reopened.AppendAsync(LedgerTestRoot.Event("run-1"))).Error?.Code).IsEqualTo(ExternalActionLedger.UnavailableCode);
        var fresh = await reopened.AppendAsync(LedgerTestRoot.Event("run-new"));
        await Assert.That(fresh.Error?.Code).IsEqualTo(ExternalActionLedger.UnavailableCode);
        await Assert.That(fresh.Error!.Message).StartsWith("external action audit unavailable (bucket run-new: new buckets cannot be created:");
        await Assert.That(System.Text.RegularExpressions.Regex.Matches(fresh.Error.Message, "audit unavailable")).HasSingleItem();
    }

    [Test]
    public async Task A_second_writer_on_the_same_ledger_is_refused()
    {
        await using ExternalActionLedger first = _t.Open();

        var second = ExternalActionLedger.Open(_t.Root, _t.Key);

        await Assert.That(second.Error?.Code).IsEqualTo("ledger_locked");
    }

    [Test]
    public async Task A_run_id_with_path_traversal_stays_inside_the_ledger_directory()
    {
        await using (ExternalActionLedger ledger = _t.Open())
        {
            await Assert.That((await ledger.AppendAsync(LedgerTestRoot.Event("../../etc/passwd"))).IsOk).IsTrue();
        }

        string[] files = Directory.GetFiles(_t.Paths.RecordsDirectory, "*.jsonl");
        await Assert.That(files).HasSingleItem();
        await Assert.That(Path.GetFileName(files[0])).Matches("^_[0-9a-f]{64}\\.jsonl$");
        await Assert.That(File.Exists(Path.Combine(_t.Path, "etc", "passwd.jsonl"))).IsFalse();
        VerifyReport report = _t.Verify();
        await Assert.That(report.Ok).IsTrue();
        await Assert.That((await Assert.That(report.Results).HasSingleItem())!.Bucket).IsEqualTo("../../etc/passwd");
        await Assert.That(_t.Open().ReadRun("../../etc/passwd").Value).HasSingleItem();
    }

    [Test]
    public async Task Idle_buckets_close_their_files_beyond_the_open_file_limit()
    {
        await using (ExternalActionLedger ledger = ExternalActionLedger.Open(_t.Root, _t.Key, new LedgerOptions { MaxOpenFiles = 2 }).Value)
        {
            for (int round = 0; round < 3; round++)
            {
                for (int run = 0; run < 6; run++)
                {
                    await Assert.That((await ledger.AppendAsync(LedgerTestRoot.Event($"run-{run}"))).IsOk).IsTrue();
                }
            }

            await Assert.That(ledger.OpenFiles <= 3).IsTrue().Because($"{ledger.OpenFiles} files open");
        }

        VerifyReport report = _t.Verify(pinned: _t.Key.PublicKeyHex);
        await Assert.That(report.Ok).IsTrue();
        await Assert.That(report.Records).IsEqualTo(18);
    }

    [Test]
    public async Task A_started_record_is_on_disk_when_its_append_completes()
    {
        await using ExternalActionLedger ledger = _t.Open();

        LedgerRecord r = (await ledger.AppendAsync(LedgerTestRoot.Event("run-1"))).Value;

        await Assert.That(File.ReadAllText(_t.RecordFile("run-1"))).Contains(r.ActionId);
    }

    [Test]
    public async Task An_outcome_appended_soon_joins_the_next_group_commit_in_queue_order()
    {
        await using ExternalActionLedger ledger = ExternalActionLedger.Open(_t.Root, _t.Key, new LedgerOptions { SoonDelay = TimeSpan.FromSeconds(30) }).Value;
        LedgerRecord first = (await ledger.AppendAsync(LedgerTestRoot.Event("run-1"))).Value;

        Task<Kheish.Core.Errors.Result<LedgerRecord>> soon = ledger.AppendSoonAsync(LedgerTestRoot.Event("run-1"));
        await Task.Delay(50);
        await Assert.That(soon.IsCompleted).IsFalse().Because("a soon append waits for the next group commit (the delay is 30 s)");
        LedgerRecord next = (await ledger.AppendAsync(LedgerTestRoot.Event("run-1"))).Value;
        LedgerRecord outcome = (await soon).Value;

        await Assert.That(outcome.PrevHash).IsEqualTo(first.RecordHash);
        await Assert.That(next.PrevHash).IsEqualTo(outcome.RecordHash);
        await Assert.That(ledger.Stats.Batches).IsEqualTo(2).Because("the soon record rode with the next append's sync");
        await Assert.That(File.ReadAllText(_t.RecordFile("run-1"))).Contains(outcome.ActionId);
    }

    [Test]
    public async Task An_outcome_appended_soon_is_synced_on_its_own_after_the_delay_when_nothing_follows()
    {
        await using ExternalActionLedger ledger = ExternalActionLedger.Open(_t.Root, _t.Key, new LedgerOptions { SoonDelay = TimeSpan.FromMilliseconds(5) }).Value;

        Task<Kheish.Core.Errors.Result<LedgerRecord>> soon = ledger.AppendSoonAsync(LedgerTestRoot.Event("run-1"));
        Task done = await Task.WhenAny(soon, Task.Delay(TimeSpan.FromSeconds(10)));

        await Assert.That(done == soon).IsTrue().Because("the timer writes a soon record nobody follows");
        LedgerRecord outcome = (await soon).Value;
        await Assert.That(File.ReadAllText(_t.RecordFile("run-1"))).Contains(outcome.ActionId);
        await Assert.That(ledger.Stats.Batches).IsEqualTo(1);
    }

    [Test]
    public async Task Closing_the_ledger_writes_an_outcome_appended_soon()
    {
        Task<Kheish.Core.Errors.Result<LedgerRecord>> soon;
        await using (ExternalActionLedger ledger = ExternalActionLedger.Open(_t.Root, _t.Key, new LedgerOptions { SoonDelay = TimeSpan.FromSeconds(30) }).Value)
        {
            soon = ledger.AppendSoonAsync(LedgerTestRoot.Event("run-1"));
        }

        await Assert.That(soon.IsCompleted).IsTrue();
        LedgerRecord outcome = (await soon).Value;
        await Assert.That(File.ReadAllText(_t.RecordFile("run-1"))).Contains(outcome.ActionId);
        VerifyReport report = _t.Verify(pinned: _t.Key.PublicKeyHex);
        await Assert.That(report.Ok).IsTrue();
        await Assert.That(report.Records).IsEqualTo(1);
    }

    [Test]
    public async Task Soon_and_durable_appends_from_many_threads_all_land_in_one_valid_chain()
    {
        const int producers = 16, each = 40;
        var soon = new System.Collections.Concurrent.ConcurrentBag<Task<Kheish.Core.Errors.Result<LedgerRecord>>>();
        await using (ExternalActionLedger ledger = _t.Open())
        {
            await Task.WhenAll(Enumerable.Range(0, producers).Select(p => Task.Run(async () =>
            {
                for (int i = 0; i < each; i++)
                {
                    await Assert.That((await ledger.AppendAsync(LedgerTestRoot.Event("run-1"))).IsOk).IsTrue();
                    soon.Add(ledger.AppendSoonAsync(LedgerTestRoot.Event("run-1")));
                }
            })));
            await Task.WhenAll(soon);
        }

        await Assert.That(soon.All(t => t.Result.IsOk)).IsTrue();
        VerifyReport report = _t.Verify(pinned: _t.Key.PublicKeyHex);
        await Assert.That(report.Ok).IsTrue();
        await Assert.That(report.Records).IsEqualTo(2 * producers * each);
    }
}
