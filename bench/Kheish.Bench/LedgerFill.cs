using System.Diagnostics;
using System.Globalization;
using Kheish.Core.Audit;
using Kheish.Core.Storage;

namespace Kheish.Bench;

/// <summary>
/// Builds a large ledger for the startup benchmark (issue 16) through the real ledger: every
/// record is signed, chained, group-committed and sequenced into the transparency log exactly as
/// the daemon writes it, so <c>runs verify --all</c> accepts the result.
/// </summary>
internal static class LedgerFill
{
    public static async Task<int> RunAsync(string stateRoot, long records, int buckets)
    {
        var root = new StateRoot(stateRoot);
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 64), io);
        long perBucket = records / buckets;
        var sw = Stopwatch.StartNew();
        await using (ExternalActionLedger ledger = ExternalActionLedger.OpenForDaemon(root, _ => null).Value)
        {
            long done = 0;
            // 16 buckets at a time, each filled by concurrent appends so they group-commit in batches.
            await Parallel.ForEachAsync(Enumerable.Range(0, buckets), new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (b, _) =>
            {
                string run = string.Create(CultureInfo.InvariantCulture, $"fill-{b:D6}");
                long n = perBucket + (b < records % buckets ? 1 : 0);
                for (long i = 0; i < n; i += 64)
                {
                    int chunk = (int)Math.Min(64, n - i);
                    Task<Kheish.Core.Errors.Result<LedgerRecord>>[] appends = new Task<Kheish.Core.Errors.Result<LedgerRecord>>[chunk];
                    for (int j = 0; j < chunk; j++)
                    {
                        int producer = j;
                        appends[j] = Task.Run(() => ledger.AppendAsync(LedgerBench.Event(run, producer)));
                    }

                    foreach (Kheish.Core.Errors.Result<LedgerRecord> r in await Task.WhenAll(appends).ConfigureAwait(false))
                    {
                        if (!r.IsOk)
                        {
                            throw new InvalidOperationException($"append failed: {r.Error}");
                        }
                    }
                }

                long total = Interlocked.Add(ref done, n);
                if (b % 500 == 499)
                {
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fill: {total} records, {b + 1} buckets, {sw.Elapsed.TotalSeconds:F0} s"));
                }
            }).ConfigureAwait(false);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fill records={records} buckets={buckets} seconds={sw.Elapsed.TotalSeconds:F1}"));
        return 0;
    }

    /// <summary>
    /// Where an open of an existing ledger goes (issue 16): times <c>OpenForDaemon</c> (index,
    /// bucket list, the log from its checkpoint) and then the background bucket check, a few times.
    /// Each open ends with a clean close, as a daemon's stop does.
    /// </summary>
    public static async Task<int> OpenAsync(string stateRoot, int times)
    {
        var root = new StateRoot(stateRoot);
        for (int i = 0; i < times; i++)
        {
            var sw = Stopwatch.StartNew();
            ExternalActionLedger ledger = ExternalActionLedger.OpenForDaemon(root, _ => null, new LedgerOptions { DeferOpenChecks = true }).Value;
            double open = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            ledger.StartOpenChecks();
            await ledger.OpenChecks.ConfigureAwait(false);
            double checks = sw.Elapsed.TotalMilliseconds;
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"open ms={open:F1} log_from_checkpoint={ledger.Log?.OpenedFromCheckpoint} log_bytes={ledger.Log?.OpenBytesRead} buckets={ledger.Health.Buckets} background_check_ms={checks:F0} bucket_bytes_read={ledger.OpenBytesRead}"));
            await ledger.DisposeAsync().ConfigureAwait(false);
        }

        return 0;
    }
}
