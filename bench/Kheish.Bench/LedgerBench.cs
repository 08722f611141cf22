using System.Diagnostics;
using System.Globalization;
using Kheish.Core.Audit;
using Kheish.Core.Storage;

namespace Kheish.Bench;

internal static class LedgerBench
{
    /// <summary>The raw limit: what one thread gets appending a ledger-sized line and fsyncing each time.</summary>
    public static int FsyncLoop(string dir, TimeSpan duration, bool dataOnly)
    {
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "fsync-loop.jsonl");
        byte[] line = new byte[600];
        Array.Fill(line, (byte)'x');
        line[^1] = (byte)'\n';
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1);
        long n = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < duration)
        {
            stream.Write(line);
            if (dataOnly)
            {
                stream.Flush();
                AuditNative.DataSync(stream.SafeFileHandle);
            }
            else
            {
                stream.Flush(flushToDisk: true);
            }

            n++;
        }

        Report(dataOnly ? "fdatasync_loop" : "fsync_loop", n, sw.Elapsed);
        return 0;
    }

    /// <summary>Durable appends to one bucket from <paramref name="producers"/> concurrent producers.</summary>
    public static async Task<int> AppendAsync(string stateRoot, int producers, TimeSpan duration)
    {
        var root = new StateRoot(stateRoot);
        await using ExternalActionLedger ledger = ExternalActionLedger.OpenForDaemon(root, _ => null).Value;
        string run = $"bench-{producers}";

        // Warm-up: JIT, bucket creation (index + first checkpoint).
        for (int i = 0; i < 200; i++)
        {
            _ = (await ledger.AppendAsync(Event(run, 0)).ConfigureAwait(false)).Value;
        }

        long total = 0;
        TimeSpan cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, producers).Select(p => Task.Run(async () =>
        {
            long mine = 0;
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
        Report($"append_p{producers}", total, elapsed, cpu);
        return 0;
    }

    private static ExternalActionEvent Event(string run, int producer) =>
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
