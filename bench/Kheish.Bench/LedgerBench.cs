using System.Diagnostics;
using System.Globalization;
using Kheish.Core.Audit;
using Kheish.Core.Storage;

namespace Kheish.Bench;

internal static class LedgerBench
{
    /// <summary>
    /// The raw limit: what one thread gets appending a ledger-sized line and fsyncing each time.
    /// <paramref name="reserved"/> is the ledger's own method (<see cref="LedgerOptions.ReserveBytes"/>):
    /// the file is extended by a zeroed reserve once per reserve and each line overwrites it, so a
    /// sync writes data without changing the file's size.
    /// </summary>
    public static int FsyncLoop(string dir, TimeSpan duration, bool dataOnly, bool reserved = false)
    {
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "fsync-loop.jsonl");
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1);
        var loop = new RawLoop(stream, reserved);
        long n = 0;
        TimeSpan cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < duration)
        {
            loop.Append(dataOnly);
            n++;
        }

        // CPU per sync (cpu_rate is syncs per CPU-second): on a VM the kernel's side of a sync, the
        // block-layer submission and the virtio doorbell that exits to the hypervisor, is charged
        // to the thread that syncs. It bounds records per CPU-second for any batch size.
        Report(reserved ? "reserved_fdatasync_loop" : dataOnly ? "fdatasync_loop" : "fsync_loop", n, sw.Elapsed, Process.GetCurrentProcess().TotalProcessorTime - cpuStart);
        return 0;
    }

    /// <summary>One 600-byte line written and synced per <see cref="Append"/>, at the end of the file or into a zeroed reserve.</summary>
    private sealed class RawLoop(FileStream stream, bool reserved)
    {
        private static readonly byte[] Line = MakeLine();
        private static readonly byte[] Zeros = new byte[new LedgerOptions().ReserveBytes];
        private long _length;
        private long _allocated;

        public void Append(bool dataOnly)
        {
            RandomAccess.Write(stream.SafeFileHandle, Line, _length);
            _length += Line.Length;
            if (reserved && _length >= _allocated)
            {
                RandomAccess.Write(stream.SafeFileHandle, Zeros, _length);
                _allocated = _length + Zeros.Length;
            }

            if (dataOnly)
            {
                AuditNative.DataSync(stream.SafeFileHandle);
            }
            else
            {
                stream.Flush(flushToDisk: true);
            }
        }

        private static byte[] MakeLine()
        {
            byte[] line = new byte[600];
            Array.Fill(line, (byte)'x');
            line[^1] = (byte)'\n';
            return line;
        }
    }

    /// <summary>
    /// Single producer against the raw loops, interleaved in 250 ms slices for <paramref name="duration"/>
    /// in total, so the three see the same disk (its speed on a shared machine swings several-fold
    /// from one second to the next). Prints one line per contender.
    /// </summary>
    public static async Task<int> PairedAsync(string dir, TimeSpan duration)
    {
        Directory.CreateDirectory(dir);
        var root = new StateRoot(Path.Combine(dir, "state"));
        await using ExternalActionLedger ledger = ExternalActionLedger.OpenForDaemon(root, _ => null).Value;
        for (int i = 0; i < 200; i++)
        {
            _ = (await ledger.AppendAsync(Event("paired", 0)).ConfigureAwait(false)).Value;
        }

        using var raw = new FileStream(Path.Combine(dir, "raw.jsonl"), FileMode.Create, FileAccess.Write, FileShare.Read, 1);
        using var rawReserved = new FileStream(Path.Combine(dir, "raw-reserved.jsonl"), FileMode.Create, FileAccess.Write, FileShare.Read, 1);
        var appending = new RawLoop(raw, reserved: false);
        var reserving = new RawLoop(rawReserved, reserved: true);
        var slice = TimeSpan.FromMilliseconds(250);
        long fsyncs = 0, fdatasyncs = 0, reservedSyncs = 0, appends = 0;
        TimeSpan fsyncTime = TimeSpan.Zero, fdatasyncTime = TimeSpan.Zero, reservedTime = TimeSpan.Zero, appendTime = TimeSpan.Zero;
        var total = Stopwatch.StartNew();
        while (total.Elapsed < duration)
        {
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < slice)
            {
                appending.Append(dataOnly: false);
                fsyncs++;
            }

            fsyncTime += sw.Elapsed;
            sw.Restart();
            while (sw.Elapsed < slice)
            {
                appending.Append(dataOnly: true);
                fdatasyncs++;
            }

            fdatasyncTime += sw.Elapsed;
            sw.Restart();
            while (sw.Elapsed < slice)
            {
                reserving.Append(dataOnly: true);
                reservedSyncs++;
            }

            reservedTime += sw.Elapsed;
            sw.Restart();
            while (sw.Elapsed < slice)
            {
                _ = (await ledger.AppendAsync(Event("paired", 0)).ConfigureAwait(false)).Value;
                appends++;
            }

            appendTime += sw.Elapsed;
        }

        Report("paired_fsync_loop", fsyncs, fsyncTime);
        Report("paired_fdatasync_loop", fdatasyncs, fdatasyncTime);
        Report("paired_reserved_fdatasync_loop", reservedSyncs, reservedTime);
        Report("paired_append_p1", appends, appendTime);
        PrintStats("paired_append_p1", ledger.Stats);
        return 0;
    }

    /// <summary>
    /// Durable appends from <paramref name="producers"/> concurrent producers; producer p appends to
    /// bucket (run) p % <paramref name="buckets"/>, so buckets &gt; 1 measures many active runs at once.
    /// </summary>
    public static async Task<int> AppendAsync(string stateRoot, int producers, TimeSpan duration, int buckets = 1)
    {
        var root = new StateRoot(stateRoot);
        // BENCH_MIN_THREADS: a pool floor, as serve had until the ledger stopped blocking pool threads.
        if (Environment.GetEnvironmentVariable("BENCH_MIN_THREADS") is { Length: > 0 } floor)
        {
            ThreadPool.GetMinThreads(out int workers, out int io);
            ThreadPool.SetMinThreads(Math.Max(workers, int.Parse(floor, CultureInfo.InvariantCulture)), io);
        }
        // BENCH_CHECKPOINT_MS: checkpoint interval override, to see what checkpoints cost.
        var options = Environment.GetEnvironmentVariable("BENCH_CHECKPOINT_MS") is { Length: > 0 } ms
            ? new LedgerOptions { CheckpointInterval = TimeSpan.FromMilliseconds(double.Parse(ms, CultureInfo.InvariantCulture)) }
            : new LedgerOptions();
        // BENCH_TLOG=off: no transparency log, to see what sequencing, tiles and checkpoints cost (issue 19).
        if (Environment.GetEnvironmentVariable("BENCH_TLOG") == "off")
        {
            options = options with { TransparencyLog = null };
        }
        // BENCH_LOG_CHECKPOINT_RECORDS: records between transparency-log checkpoints, to see what they cost.
        if (Environment.GetEnvironmentVariable("BENCH_LOG_CHECKPOINT_RECORDS") is { Length: > 0 } logRecords && options.TransparencyLog is { } log)
        {
            options = options with { TransparencyLog = log with { CheckpointRecords = int.Parse(logRecords, CultureInfo.InvariantCulture) } };
        }

        // BENCH_RESERVE: the bucket reserve in bytes (0 appends without one), to see what it buys (issue 16).
        if (Environment.GetEnvironmentVariable("BENCH_RESERVE") is { Length: > 0 } reserve)
        {
            options = options with { ReserveBytes = int.Parse(reserve, CultureInfo.InvariantCulture) };
        }

        if (Environment.GetEnvironmentVariable("BENCH_WRITER_THREADS") is { Length: > 0 } threads)
        {
            options = options with { WriterThreads = int.Parse(threads, CultureInfo.InvariantCulture) };
        }

        await using ExternalActionLedger ledger = ExternalActionLedger.OpenForDaemon(root, _ => null, options).Value;
        string[] runs = Enumerable.Range(0, buckets).Select(b => buckets == 1 ? $"bench-{producers}" : $"bench-{producers}-b{b}").ToArray();

        // Warm-up: JIT, bucket creation (index + first checkpoint) for every bucket.
        for (int i = 0; i < Math.Max(200, buckets); i++)
        {
            _ = (await ledger.AppendAsync(Event(runs[i % buckets], 0)).ConfigureAwait(false)).Value;
        }

        long total = 0;
        TimeSpan cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, producers).Select(p => Task.Run(async () =>
        {
            long mine = 0;
            string run = runs[p % buckets];
            while (sw.Elapsed < duration)
            {
                if (!(await ledger.AppendAsync(Event(run, p)).ConfigureAwait(false)).IsOk)
                {
                    throw new InvalidOperationException("append failed");
                }

                mine++;
            }

            Interlocked.Add(ref total, mine);
        }))).ConfigureAwait(false);
        TimeSpan elapsed = sw.Elapsed;
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuStart;
        string name = buckets == 1 ? $"append_p{producers}" : $"append_p{producers}_b{buckets}";
        Report(name, total, elapsed, cpu);
        PrintStats(name, ledger.Stats);
        return 0;
    }

    private static void PrintStats(string name, LedgerStats stats) =>
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{name}_stats batches={stats.Batches} mean_batch={stats.MeanBatch:F1} build_us_per_record={stats.BuildMicrosPerRecord:F1} write_sync_us_per_batch={stats.WriteSyncMicrosPerBatch:F1} handed_off_batches={stats.HandedOffBatches}"));

    internal static ExternalActionEvent Event(string run, int producer) =>
        new(ActionPhase.Started, "provider_request", "https://api.openai.com/v1/chat/completions")
        {
            RunId = run,
            SessionId = "session-bench",
            AgentId = $"agent-{producer}",
            ToolCallId = "call_0123456789",
            PrincipalId = "apikey:bench",
            GrantId = "grant-0123456789",
            RequestDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        };

    private static void Report(string name, long count, TimeSpan elapsed, TimeSpan? cpu = null) =>
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{name} records={count} seconds={elapsed.TotalSeconds:F3} rate={count / elapsed.TotalSeconds:F1} cpu_rate={(cpu is { } c && c > TimeSpan.Zero ? count / c.TotalSeconds : 0):F1}"));
}
