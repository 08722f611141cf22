using System.Text;
using Kheish.Core.Audit;
using Kheish.Core.Errors;
using Kheish.Core.Tests.Audit;
using Kheish.Core.Transparency;

namespace Kheish.Core.Tests.Transparency;

public sealed class TransparencyLogTests : IDisposable
{
    private readonly LedgerTestRoot _t = new();

    public void Dispose() => _t.Dispose();

    private LogPaths LogPaths => new(_t.Root);

    private Checkpoint ReadCheckpoint()
    {
        byte[] note = File.ReadAllBytes(LogPaths.CheckpointFile);
        Checkpoint? checkpoint = LogState.OpenCheckpoint(note, _t.Key.PublicKey, null, out string? error);
        return checkpoint ?? throw new InvalidOperationException(error);
    }

    /// <summary>Every record line of every bucket, as the leaf hashes the log must hold (order aside).</summary>
    private HashSet<string> AllLeafHashes() =>
        _t.Paths.ListRecordStems()
            .SelectMany(stem => File.ReadAllLines(_t.Paths.RecordFile(stem)))
            .Select(line => Convert.ToHexStringLower(MerkleHash.Leaf(Encoding.UTF8.GetBytes(line))))
            .ToHashSet(StringComparer.Ordinal);

    private List<string> LeafFileHashes() =>
        File.ReadAllBytes(LogPaths.LeavesFile).Chunk(64).Select(e => Convert.ToHexStringLower(e.AsSpan(0, 32))).ToList();

    [Test]
    public async Task Closing_publishes_a_signed_checkpoint_over_every_record_of_every_bucket()
    {
        await using (ExternalActionLedger ledger = _t.Open())
        {
            await Task.WhenAll(Enumerable.Range(0, 60).Select(i => ledger.AppendAsync(LedgerTestRoot.Event($"run-{i % 3}"))));
            await ledger.AppendAsync(LedgerTestRoot.Event(run: null, session: "s1"));
        }

        Checkpoint checkpoint = ReadCheckpoint();
        await Assert.That(checkpoint.Size).IsEqualTo(61);
        await Assert.That(checkpoint.Origin).IsEqualTo("kheish-daemon/" + _t.Key.PublicKeyHex[..8]);
        List<string> leaves = LeafFileHashes();
        await Assert.That(leaves.ToHashSet(StringComparer.Ordinal).SetEquals(AllLeafHashes())).IsTrue();
        var tree = new MerkleTree();
        foreach (string leaf in leaves)
        {
            tree.Append(Convert.FromHexString(leaf));
        }

        await Assert.That(Convert.ToHexStringLower(tree.Root(61))).IsEqualTo(checkpoint.RootHex);
    }

    [Test]
    public async Task Per_bucket_order_is_kept_in_the_log()
    {
        await using (ExternalActionLedger ledger = _t.Open())
        {
            await Task.WhenAll(Enumerable.Range(0, 4).Select(p => Task.Run(async () =>
            {
                for (int i = 0; i < 25; i++)
                {
                    await ledger.AppendAsync(LedgerTestRoot.Event($"run-{p}"));
                }
            })));
        }

        List<string> leaves = LeafFileHashes();
        foreach (string stem in _t.Paths.ListRecordStems())
        {
            List<int> positions = File.ReadAllLines(_t.Paths.RecordFile(stem))
                .Select(line => leaves.IndexOf(Convert.ToHexStringLower(MerkleHash.Leaf(Encoding.UTF8.GetBytes(line)))))
                .ToList();
            await Assert.That(positions.All(p => p >= 0)).IsTrue();
            await Assert.That(positions).IsEquivalentTo(positions.Order().ToList(), TUnit.Assertions.Enums.CollectionOrdering.Matching);
        }
    }

    [Test]
    public async Task Every_record_gets_a_receipt_that_verifies_against_the_checkpoint()
    {
        var records = new List<LedgerRecord>();
        await using ExternalActionLedger ledger = _t.Open();
        for (int i = 0; i < 23; i++)
        {
            records.Add((await ledger.AppendAsync(LedgerTestRoot.Event($"run-{i % 2}"))).Value);
        }

        TransparencyLog log = ledger.Log!;
        await WaitUntil(() => log.CheckpointSize == 23);
        foreach (LedgerRecord record in records)
        {
            TlogProof receipt = log.Prove(record.ActionId).Value;
            Result<ReceiptCheck> checkedReceipt = ReceiptVerifier.Verify(receipt.Format(), _t.Key.PublicKey, null);
            await Assert.That(checkedReceipt.IsOk).IsTrue();
            await Assert.That(checkedReceipt.Value.Record.ActionId).IsEqualTo(record.ActionId);
        }
    }

    [Test]
    public async Task Flipping_any_byte_of_a_receipt_makes_it_fail()
    {
        await using ExternalActionLedger ledger = _t.Open();
        LedgerRecord record = (await ledger.AppendAsync(LedgerTestRoot.Event())).Value;
        for (int i = 0; i < 6; i++)
        {
            await ledger.AppendAsync(LedgerTestRoot.Event("run-2"));
        }

        await WaitUntil(() => ledger.Log!.CheckpointSize == 7);
        byte[] receipt = Encoding.UTF8.GetBytes(ledger.Log!.Prove(record.ActionId).Value.Format());
        await Assert.That(ReceiptVerifier.Verify(Encoding.UTF8.GetString(receipt), _t.Key.PublicKey, null).IsOk).IsTrue();

        var accepted = new List<int>();
        for (int i = 0; i < receipt.Length; i++)
        {
            foreach (byte flip in new byte[] { 0x01, 0x20 })
            {
                byte[] tampered = (byte[])receipt.Clone();
                tampered[i] ^= flip;
                string text = Encoding.UTF8.GetString(tampered);
                if (ReceiptVerifier.Verify(text, _t.Key.PublicKey, null).IsOk && text != Encoding.UTF8.GetString(receipt))
                {
                    accepted.Add(i);
                }
            }
        }

        await Assert.That(accepted).IsEmpty();
    }

    [Test]
    public async Task A_record_not_yet_in_a_checkpoint_is_a_conflict_naming_the_delay()
    {
        await using ExternalActionLedger ledger = ExternalActionLedger.Open(_t.Root, _t.Key, new LedgerOptions
        {
            TransparencyLog = new LogOptions { CheckpointInterval = TimeSpan.FromHours(1) },
        }).Value;
        LedgerRecord r = (await ledger.AppendAsync(LedgerTestRoot.Event())).Value;
        await WaitUntil(() => ledger.Log!.Size == 1);

        Result<TlogProof> proof = ledger.Log!.Prove(r.ActionId);

        await Assert.That(proof.IsOk).IsFalse();
        await Assert.That(proof.Error!.Code).IsEqualTo("action_not_checkpointed");
    }

    [Test]
    public async Task Records_a_crash_left_unsequenced_join_the_log_on_reopen_and_the_tree_extends_the_old_checkpoint()
    {
        await using (ExternalActionLedger ledger = _t.Open())
        {
            for (int i = 0; i < 10; i++)
            {
                await ledger.AppendAsync(LedgerTestRoot.Event());
            }
        }

        Checkpoint before = ReadCheckpoint();
        await using (ExternalActionLedger ledger = _t.Open())
        {
            for (int i = 0; i < 5; i++)
            {
                await ledger.AppendAsync(LedgerTestRoot.Event("run-2"));
            }
        }

        // As if the process died after the records' fsync but before the log wrote their leaves.
        using (var leaves = new FileStream(LogPaths.LeavesFile, FileMode.Open))
        {
            leaves.SetLength((10 * 64) + 13);
        }

        WriteCheckpointOf(before);

        await using (ExternalActionLedger ledger = _t.Open())
        {
            await Assert.That(ledger.Log!.Problem).IsNull();
            await Assert.That(ledger.Log.Size).IsEqualTo(15);
        }

        Checkpoint after = ReadCheckpoint();
        await Assert.That(after.Size).IsEqualTo(15);
        await Assert.That(LeafFileHashes().ToHashSet(StringComparer.Ordinal).SetEquals(AllLeafHashes())).IsTrue();
        LogState state = LogState.Load(_t.Root, _t.Key.PublicKey);
        List<byte[]> proof = state.Tree.ConsistencyProof(before.Size, after.Size);
        await Assert.That(MerkleProof.VerifyConsistency(before.Size, after.Size, proof, before.RootHash, after.RootHash)).IsTrue();
    }

    [Test]
    public async Task A_ledger_from_before_the_log_is_logged_whole_on_first_open()
    {
        await _t.FillAsync("run-1", 4);
        Directory.Delete(LogPaths.Directory, recursive: true);
        await Assert.That(LogState.Load(_t.Root, _t.Key.PublicKey).Unsequenced.Count).IsEqualTo(4);

        await using (ExternalActionLedger ledger = _t.Open())
        {
            await Assert.That(ledger.Log!.Problem).IsNull();
        }

        await Assert.That(ReadCheckpoint().Size).IsEqualTo(4);
    }

    [Test]
    public async Task A_changed_record_line_freezes_the_log_and_makes_the_ledger_unhealthy()
    {
        await _t.FillAsync("run-1", 3);
        List<string> lines = _t.Lines("run-1");
        lines[1] = lines[1].Replace("agent-1", "agent-2", StringComparison.Ordinal);
        _t.WriteLines("run-1", lines);
        // Not a clean close (a crash): the open rebuilds the log and checks every leaf.
        File.Delete(LogPaths.ClosedFile);

        await using ExternalActionLedger ledger = _t.Open();

        await Assert.That(ledger.Log!.Problem).Contains("leaf 1");
        await Assert.That(ledger.Health.Healthy).IsFalse();
        await Assert.That(ledger.Health.TransparencyLogProblem).IsNotNull();
    }

    [Test]
    public async Task Tiles_are_written_in_the_tlog_tiles_layout()
    {
        await using (ExternalActionLedger ledger = _t.Open())
        {
            await Task.WhenAll(Enumerable.Range(0, 300).Select(_ => ledger.AppendAsync(LedgerTestRoot.Event())));
        }

        string tiles = LogPaths.TilesDirectory;
        await Assert.That(new FileInfo(Path.Combine(tiles, "0", "000")).Length).IsEqualTo(256 * 32);
        await Assert.That(new FileInfo(Path.Combine(tiles, "0", "001.p", "44")).Length).IsEqualTo(44 * 32);
        await Assert.That(new FileInfo(Path.Combine(tiles, "1", "000.p", "1")).Length).IsEqualTo(32);
        await Assert.That(TileWriter.TilePath(0, 1234067)).IsEqualTo(Path.Combine("0", "x001", "x234", "067"));
        LogState state = LogState.Load(_t.Root, _t.Key.PublicKey);
        byte[] level1 = File.ReadAllBytes(Path.Combine(tiles, "1", "000.p", "1"));
        await Assert.That(level1.AsSpan().SequenceEqual(state.Tree.Root(256))).IsTrue();
    }

    [Test]
    public async Task A_running_log_holds_its_recent_actions_and_right_edge_only_and_still_proves_every_record()
    {
        var options = new LedgerOptions { TransparencyLog = new LogOptions { RecentActions = 100, TreeHashesKept = 600, CheckpointRecords = 64 } };
        var records = new List<LedgerRecord>();
        await using ExternalActionLedger ledger = ExternalActionLedger.Open(_t.Root, _t.Key, options).Value;
        for (int i = 0; i < 1500; i++)
        {
            records.Add((await ledger.AppendAsync(LedgerTestRoot.Event($"run-{i % 3}"))).Value);
        }

        TransparencyLog log = ledger.Log!;
        await log.PublishNowAsync();
        long size = log.CheckpointSize;
        await Assert.That(size).IsEqualTo(1500);
        // Between RecentActions and twice as many actions; the tree cut back once over 600 hashes.
        (int actions, long hashes) = log.Held;
        await Assert.That(actions is >= 100 and < 200).IsTrue().Because($"{actions} actions held");
        await Assert.That(hashes <= 600 + (2 * 64)).IsTrue().Because($"{hashes} hashes held");

        // A recent record: proved from memory and the tiles on disk, nothing reloaded.
        await AssertProves(log, records[^1]);
        await Assert.That(log.Held.Actions).IsEqualTo(actions);
        // Consistency from an old size needs hashes before the right edge: read from the tiles.
        (Checkpoint latest, _, List<byte[]> proof, byte[] firstRoot) = log.Consistency(300).Value;
        var whole = new MerkleTree();
        foreach (string leaf in LeafFileHashes())
        {
            whole.Append(Convert.FromHexString(leaf));
        }

        await Assert.That(Convert.ToHexStringLower(firstRoot)).IsEqualTo(Convert.ToHexStringLower(whole.Root(300)));
        await Assert.That(MerkleProof.VerifyConsistency(300, latest.Size, proof, firstRoot, latest.RootHash)).IsTrue();
        // The oldest record: the whole log is loaded for it, then every record proves.
        await AssertProves(log, records[0]);
        foreach (LedgerRecord record in records.Where((_, i) => i % 97 == 0))
        {
            await AssertProves(log, record);
        }
    }

    [Test]
    public async Task A_log_reopened_from_its_checkpoint_stays_bounded_as_it_grows_and_proves_old_and_new_records()
    {
        var options = new LedgerOptions { TransparencyLog = new LogOptions { RecentActions = 100, TreeHashesKept = 600, CheckpointRecords = 64 } };
        var records = new List<LedgerRecord>();
        await using (ExternalActionLedger first = ExternalActionLedger.Open(_t.Root, _t.Key, options).Value)
        {
            for (int i = 0; i < 700; i++)
            {
                records.Add((await first.AppendAsync(LedgerTestRoot.Event($"run-{i % 2}"))).Value);
            }
        }

        await using ExternalActionLedger ledger = ExternalActionLedger.Open(_t.Root, _t.Key, options).Value;
        TransparencyLog log = ledger.Log!;
        await Assert.That(log.OpenedFromCheckpoint).IsTrue();
        for (int i = 0; i < 1500; i++)
        {
            records.Add((await ledger.AppendAsync(LedgerTestRoot.Event($"run-{i % 3}"))).Value);
        }

        await log.PublishNowAsync();
        (int actions, long hashes) = log.Held;
        await Assert.That(actions < 200).IsTrue().Because($"{actions} actions held");
        await Assert.That(hashes <= 600 + (2 * 64)).IsTrue().Because($"{hashes} hashes held");
        await AssertProves(log, records[^1]);
        await AssertProves(log, records[0]);
        await AssertProves(log, records[699]);
    }

    [Test]
    [Arguments(0)]
    [Arguments(3600)]
    public async Task After_a_receipt_loaded_the_whole_log_its_index_is_kept_for_HistoryKept_then_cut_back(int keptSeconds)
    {
        var options = new LedgerOptions
        {
            TransparencyLog = new LogOptions { RecentActions = 100, TreeHashesKept = 600, CheckpointRecords = 64, HistoryKept = TimeSpan.FromSeconds(keptSeconds) },
        };
        var records = new List<LedgerRecord>();
        await using ExternalActionLedger ledger = ExternalActionLedger.Open(_t.Root, _t.Key, options).Value;
        for (int i = 0; i < 1000; i++)
        {
            records.Add((await ledger.AppendAsync(LedgerTestRoot.Event("run-1"))).Value);
        }

        TransparencyLog log = ledger.Log!;
        await log.PublishNowAsync();
        await AssertProves(log, records[0]);
        await Assert.That(log.Held.Actions).IsEqualTo(1000);

        for (int i = 0; i < 200; i++)
        {
            await ledger.AppendAsync(LedgerTestRoot.Event("run-2"));
        }

        await log.PublishNowAsync();
        int held = log.Held.Actions;
        if (keptSeconds == 0)
        {
            await Assert.That(held < 200).IsTrue().Because($"{held} actions held");
        }
        else
        {
            await Assert.That(held).IsEqualTo(1200);
        }

        await AssertProves(log, records[1]);
    }

    [Test]
    public async Task A_missing_tile_makes_an_old_proof_unavailable_not_wrong()
    {
        var options = new LedgerOptions { TransparencyLog = new LogOptions { RecentActions = 100, TreeHashesKept = 0, CheckpointRecords = 64 } };
        await using ExternalActionLedger ledger = ExternalActionLedger.Open(_t.Root, _t.Key, options).Value;
        for (int i = 0; i < 1000; i++)
        {
            await ledger.AppendAsync(LedgerTestRoot.Event("run-1"));
        }

        TransparencyLog log = ledger.Log!;
        await log.PublishNowAsync();
        File.Delete(Path.Combine(LogPaths.TilesDirectory, TileWriter.TilePath(0, 0)));

        Result<(Checkpoint Checkpoint, string Note, List<byte[]> Proof, byte[] FirstRoot)> consistency = log.Consistency(10);
        await Assert.That(consistency.IsOk).IsFalse();
        await Assert.That(consistency.Error!.Code).IsEqualTo("transparency_log_unavailable");
        await Assert.That(consistency.Error.Message).Contains(TileWriter.TilePath(0, 0));
    }

    private async Task AssertProves(TransparencyLog log, LedgerRecord record)
    {
        Result<TlogProof> receipt = log.Prove(record.ActionId);
        await Assert.That(receipt.IsOk).IsTrue().Because(receipt.IsOk ? "" : receipt.Error!.Message);
        Result<ReceiptCheck> checkedReceipt = ReceiptVerifier.Verify(receipt.Value.Format(), _t.Key.PublicKey, null);
        await Assert.That(checkedReceipt.IsOk).IsTrue();
        await Assert.That(checkedReceipt.Value.Record.ActionId).IsEqualTo(record.ActionId);
    }

    private void WriteCheckpointOf(Checkpoint checkpoint) =>
        File.WriteAllText(LogPaths.CheckpointFile, SignedNote.Sign(checkpoint.Text, checkpoint.Origin, _t.Key));

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("condition not reached in 30 s");
            }

            await Task.Delay(20);
        }
    }
}
