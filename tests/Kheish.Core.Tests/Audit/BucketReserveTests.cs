using System.Text;
using Kheish.Core.Audit;

namespace Kheish.Core.Tests.Audit;

/// <summary>
/// An open bucket keeps a zeroed reserve after its records, so most syncs do not change the
/// file's size (issue 16). Readers must never take the reserve for records or for a torn tail,
/// a bucket at rest must be its records only, and a crash with the reserve on disk must lose
/// nothing that was acknowledged.
/// </summary>
public sealed class BucketReserveTests : IDisposable
{
    private readonly LedgerTestRoot _t = new();

    public void Dispose() => _t.Dispose();

    private ExternalActionLedger Open(int reserve, int maxOpenFiles = 256) =>
        ExternalActionLedger.Open(_t.Root, _t.Key, LedgerTestRoot.FastCheckpoints with { ReserveBytes = reserve, MaxOpenFiles = maxOpenFiles }).Value;

    /// <summary>The file's length and how many bytes of it, from the end, are zero.</summary>
    private static (long Length, long TrailingZeros, bool EndsWithNewline) Shape(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        int last = bytes.AsSpan().LastIndexOfAnyExcept((byte)0);
        return (bytes.Length, bytes.Length - 1 - last, last >= 0 && bytes[last] == (byte)'\n');
    }

    private static long LinesLength(IEnumerable<LedgerRecord> records) =>
        records.Sum(r => (long)LedgerEncoding.RecordLine(r).Length + 1);

    [Test]
    public async Task An_open_bucket_keeps_a_zeroed_reserve_its_size_stays_put_while_appends_fit_and_at_rest_it_is_its_records_only()
    {
        string file = _t.RecordFile("run-1");
        var records = new List<LedgerRecord>();
        await using (ExternalActionLedger ledger = Open(LedgerOptions.MaxReserveBytes))
        {
            records.Add((await ledger.AppendAsync(LedgerTestRoot.Event("run-1"))).Value);
            var first = Shape(file);
            await Assert.That(first.Length).IsGreaterThanOrEqualTo(LinesLength(records) + LedgerOptions.MaxReserveBytes);
            await Assert.That(first.Length - first.TrailingZeros).IsEqualTo(LinesLength(records));
            await Assert.That(first.Length % 4096).IsEqualTo(0);

            for (int i = 0; i < 20; i++)
            {
                records.Add((await ledger.AppendAsync(LedgerTestRoot.Event("run-1", i % 2 == 0 ? ActionPhase.Completed : ActionPhase.Started))).Value);
            }

            var after = Shape(file);
            await Assert.That(after.Length).IsEqualTo(first.Length);
            await Assert.That(after.Length - after.TrailingZeros).IsEqualTo(LinesLength(records));
            await Assert.That(after.EndsWithNewline).IsTrue();

            // A reader of the live file (runs show, runs verify beside serve) sees the records,
            // no torn tail and nothing of the reserve.
            IReadOnlyList<LedgerRecord> read = LedgerReader.ReadBucket(_t.Paths, "run-1").Value;
            await Assert.That(read.Select(r => r.RecordHash)).IsEquivalentTo(records.Select(r => r.RecordHash), CollectionOrdering.Matching);
            BucketVerification live = (await Assert.That(_t.Verify().Results).HasSingleItem())!;
            await Assert.That(live.Failure).IsNull();
            await Assert.That(live.Records).IsEqualTo(21);
            await Assert.That(live.TornTailBytes).IsEqualTo(0);
        }

        var rest = Shape(file);
        await Assert.That(rest.TrailingZeros).IsEqualTo(0);
        await Assert.That(rest.Length).IsEqualTo(LinesLength(records));
        await Assert.That(_t.Lines("run-1")).Count().IsEqualTo(21);
        await Assert.That(_t.Verify().Ok).IsTrue();
    }

    [Test]
    public async Task An_append_past_the_reserve_writes_a_new_one_after_it()
    {
        string file = _t.RecordFile("run-1");
        var records = new List<LedgerRecord>();
        await using ExternalActionLedger ledger = Open(reserve: 100);
        records.Add((await ledger.AppendAsync(LedgerTestRoot.Event("run-1"))).Value);
        long firstLength = Shape(file).Length;
        var lengths = new HashSet<long> { firstLength };
        while (LinesLength(records) <= 3 * firstLength)
        {
            records.Add((await ledger.AppendAsync(LedgerTestRoot.Event("run-1"))).Value);
            var shape = Shape(file);
            lengths.Add(shape.Length);
            if (shape.Length - shape.TrailingZeros != LinesLength(records) || shape.Length <= LinesLength(records) || shape.Length % 4096 != 0)
            {
                throw new InvalidOperationException($"after {records.Count} records: length {shape.Length}, zeros {shape.TrailingZeros}, records {LinesLength(records)}");
            }
        }

        // The size changed once per reserve crossed, not once per append.
        await Assert.That(lengths.Count).IsGreaterThanOrEqualTo(3);
        await Assert.That(lengths.Count).IsLessThan(records.Count / 2);
    }

    [Test]
    public async Task Without_a_reserve_an_open_bucket_is_exactly_its_records()
    {
        var records = new List<LedgerRecord>();
        await using ExternalActionLedger ledger = Open(reserve: 0);
        for (int i = 0; i < 5; i++)
        {
            records.Add((await ledger.AppendAsync(LedgerTestRoot.Event("run-1"))).Value);
            var shape = Shape(_t.RecordFile("run-1"));
            await Assert.That(shape.Length).IsEqualTo(LinesLength(records));
            await Assert.That(shape.TrailingZeros).IsEqualTo(0);
        }
    }

    [Test]
    public async Task A_crash_with_the_reserve_on_disk_loses_no_acknowledged_record_and_the_reopened_bucket_is_cut_back()
    {
        // The state root copied while the ledger is open is what a kill -9 leaves on disk.
        string image = Path.Combine(_t.Path, "crashed");
        var records = new List<LedgerRecord>();
        await using (ExternalActionLedger ledger = Open(LedgerOptions.MaxReserveBytes))
        {
            for (int i = 0; i < 12; i++)
            {
                records.Add((await ledger.AppendAsync(LedgerTestRoot.Event("run-1"))).Value);
            }

            CopyDirectory(_t.Root.Path, image);
        }

        var crashedRoot = new Kheish.Core.Storage.StateRoot(image);
        var crashedPaths = new LedgerPaths(crashedRoot);
        string crashedFile = crashedPaths.RecordFile(BucketName.FileStem("run-1"));
        await Assert.That(Shape(crashedFile).TrailingZeros).IsGreaterThan(LedgerOptions.MaxReserveBytes / 2);

        // Offline verify of the crash image: every acknowledged record, the reserve is no torn tail.
        VerifyReport offline = LedgerVerifier.Verify(crashedRoot, null, null).Value;
        await Assert.That(offline.Ok).IsTrue();
        await Assert.That(offline.Records).IsEqualTo(12);
        await Assert.That(offline.Results[0].TornTailBytes).IsEqualTo(0);

        await using (ExternalActionLedger reopened = ExternalActionLedger.Open(crashedRoot, _t.Key, LedgerTestRoot.FastCheckpoints).Value)
        {
            await reopened.OpenChecks;
            await Assert.That(reopened.Health.Healthy).IsTrue();
            LedgerRecord next = (await reopened.AppendAsync(LedgerTestRoot.Event("run-1"))).Value;
            await Assert.That(next.PrevHash).IsEqualTo(records[^1].RecordHash);
            records.Add(next);
        }

        var rest = Shape(crashedFile);
        await Assert.That(rest.TrailingZeros).IsEqualTo(0);
        await Assert.That(rest.Length).IsEqualTo(LinesLength(records));
        VerifyReport after = LedgerVerifier.Verify(crashedRoot, null, null).Value;
        await Assert.That(after.Ok).IsTrue();
        await Assert.That(after.Records).IsEqualTo(13);
    }

    [Test]
    public async Task A_torn_line_before_the_reserve_is_a_torn_tail_of_its_own_bytes_and_is_trimmed_with_the_reserve()
    {
        List<LedgerRecord> records = await _t.FillAsync("run-1", 3);
        string file = _t.RecordFile("run-1");
        const string partial = "{\"action_id\":\"abc";
        await using (FileStream s = new(file, FileMode.Append))
        {
            s.Write(Encoding.UTF8.GetBytes(partial));
            s.Write(new byte[40_000]);
        }

        using (RecordFileReader reader = RecordFileReader.Open(file))
        {
            int lines = 0;
            while (reader.ReadLine() is not null)
            {
                lines++;
            }

            await Assert.That(lines).IsEqualTo(3);
            await Assert.That(reader.TornTailBytes).IsEqualTo(partial.Length);
        }

        await Assert.That(_t.Verify().Results[0].TornTailBytes).IsEqualTo(partial.Length);

        await using (ExternalActionLedger reopened = _t.Open())
        {
            await reopened.OpenChecks;
            LedgerRecord next = (await reopened.AppendAsync(LedgerTestRoot.Event("run-1"))).Value;
            await Assert.That(next.PrevHash).IsEqualTo(records[^1].RecordHash);
            records.Add(next);
        }

        await Assert.That(Shape(file).Length).IsEqualTo(LinesLength(records));
        await Assert.That(_t.Verify().Ok).IsTrue();
    }

    [Test]
    public async Task A_bucket_whose_file_is_closed_for_the_open_files_bound_is_cut_back_to_its_records()
    {
        await using ExternalActionLedger ledger = Open(LedgerOptions.MaxReserveBytes, maxOpenFiles: 1);
        LedgerRecord a = (await ledger.AppendAsync(LedgerTestRoot.Event("run-a"))).Value;
        LedgerRecord b = (await ledger.AppendAsync(LedgerTestRoot.Event("run-b"))).Value;

        // With two files open and a bound of one, the writer that went idle last closes its file
        // (right after it acknowledged, so the test may look first).
        (long Length, long TrailingZeros, bool EndsWithNewline)[] shapes = [];
        for (int i = 0; i < 200 && !shapes.Any(s => s.TrailingZeros == 0); i++)
        {
            await Task.Delay(10);
            shapes = [Shape(_t.RecordFile("run-a")), Shape(_t.RecordFile("run-b"))];
        }

        await Assert.That(shapes.Count(s => s.TrailingZeros == 0)).IsGreaterThanOrEqualTo(1);
        await Assert.That(shapes.Min(s => s.Length)).IsEqualTo(Math.Min(LinesLength([a]), LinesLength([b])));

        // It reopens on the next append, with a new reserve, and the chain goes on.
        LedgerRecord b2 = (await ledger.AppendAsync(LedgerTestRoot.Event("run-b"))).Value;
        await Assert.That(b2.PrevHash).IsEqualTo(b.RecordHash);
        LedgerRecord a2 = (await ledger.AppendAsync(LedgerTestRoot.Event("run-a"))).Value;
        await Assert.That(a2.PrevHash).IsEqualTo(a.RecordHash);
    }

    [Test]
    [Arguments(-1)]
    [Arguments(LedgerOptions.MaxReserveBytes + 1)]
    public async Task A_reserve_outside_its_range_is_refused(int reserve)
    {
        await Assert.That(() => new LedgerOptions { ReserveBytes = reserve }).Throws<ArgumentOutOfRangeException>();
    }

    [Test]
    [Arguments(0)]
    [Arguments(65)]
    public async Task A_writer_thread_count_outside_its_range_is_refused(int threads)
    {
        await Assert.That(() => new LedgerOptions { WriterThreads = threads }).Throws<ArgumentOutOfRangeException>();
    }

    [Test]
    public async Task The_ledger_starts_as_many_writer_threads_as_its_options_say_and_they_end_with_it()
    {
        ExternalActionLedger ledger = ExternalActionLedger.Open(_t.Root, _t.Key, LedgerTestRoot.FastCheckpoints with { WriterThreads = 3 }).Value;
        IReadOnlyList<Thread> writers = ledger.WriterThreads;
        await Assert.That(writers.Count(t => t.IsAlive && t.Name!.StartsWith("kheish-ledger-", StringComparison.Ordinal))).IsEqualTo(3);
        await Assert.That(new LedgerOptions().WriterThreads).IsEqualTo(8);
        await ledger.DisposeAsync();
        await Assert.That(writers.Any(t => t.IsAlive)).IsFalse();
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(dir.Replace(from, to, StringComparison.Ordinal));
        }

        // Lock files and a checkpoint's hidden temp file are held open by the live ledger; a crash
        // image needs neither (a temp file is never read).
        foreach (string file in Directory.GetFiles(from, "*", SearchOption.AllDirectories).Where(f => !Path.GetFileName(f).StartsWith('.')))
        {
            File.Copy(file, file.Replace(from, to, StringComparison.Ordinal));
        }
    }
}
