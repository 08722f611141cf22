using System.Diagnostics;
using Kheish.Core.Broker;
using Kheish.Core.Storage;

namespace Kheish.Bench;

/// <summary>
/// Per-operation latency (every call timed on its own, so p99 is of single operations):
/// lease issue and validate, the machine's raw fsync, an atomic state-file write, and a
/// durable lease revocation (which is one atomic write of the whole broker state).
/// </summary>
internal static class LatencyBench
{
    private const double TargetMicros = 20.0;

    public static void Run(int operations)
    {
        Console.WriteLine($"bench directory: {BenchDirectory.Root}");
        Console.WriteLine($"{"measurement",-44} {"n",8} {"ops/s",12} {"p50 us",10} {"p99 us",10} {"p99.9 us",10} {"max us",10}");

        var subject = SubjectId.ForAgent("bench");
        var audience = new RouteAudience("openai", "openai.default");

        using (var issuing = new BrokerHarness(new SteppingClock()))
        {
            Print("issue route lease (~60k live, pruning)", Measure(operations, () =>
                issuing.Broker.IssueRouteLease(subject, CredentialScope.Unrestricted, "openai", "openai.default")), target: true);
        }

        using (var validating = new BrokerHarness())
        {
            string[] tokens = validating.IssueMany(10_000);
            int next = 0;
            Print("validate route lease (10k live)", Measure(operations, () =>
                validating.Broker.Validate(tokens[next++ % tokens.Length], audience)), target: true);
        }

        // 300 revocations include one journal compaction (every 256 records) in the tail.
        int durableOps = Math.Max(300, operations / 1000);
        Directory.CreateDirectory(BenchDirectory.Root);
        string raw = Path.Combine(BenchDirectory.Root, "fsync-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var file = new FileStream(raw, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            byte[] block = new byte[512];
            Print("raw fsync (512 B rewrite + fsync)", Measure(durableOps, () =>
            {
                file.Position = 0;
                file.Write(block);
                file.Flush(flushToDisk: true);
            }, warmup: 5), target: false);
        }
        finally
        {
            File.Delete(raw);
        }

        string atomic = Path.Combine(BenchDirectory.Root, "atomic-" + Guid.NewGuid().ToString("N"), "state.json");
        byte[] payload = new byte[4096];
        Print("AtomicFile.Write 4 KiB (2 fsyncs + rename)", Measure(durableOps, () => AtomicFile.Write(atomic, payload), warmup: 5), target: false);
        Directory.Delete(Path.GetDirectoryName(atomic)!, recursive: true);

        foreach (int live in new[] { 100, 1000, 10_000 })
        {
            using var revoking = new BrokerHarness();
            revoking.IssueMany(live);
            revoking.Broker.Flush();
            var ids = new Queue<LeaseId>(LeaseIdsOf(revoking, live));
            int n = Math.Min(durableOps, live - 5);
            long size = new FileInfo(revoking.StatePath).Length;
            Print($"durable revoke-lease ({live} live, {size / 1024} KiB file)", Measure(n, () =>
            {
                if (!revoking.Broker.RevokeLease(ids.Dequeue()).IsOk)
                {
                    throw new InvalidOperationException("revocation failed");
                }
            }, warmup: 5), target: false);
        }
    }

    private static List<LeaseId> LeaseIdsOf(BrokerHarness harness, int count)
    {
        var ids = new List<LeaseId>();
        for (int i = 0; i < 100 && ids.Count < count; i++)
        {
            var status = harness.Broker.GetSubjectStatus(SubjectId.ForAgent("a" + i));
            ids.AddRange((status.ActiveRouteLeaseIds ?? []).Select(id => LeaseId.Parse(id).Value));
        }

        return ids;
    }

    private static double[] Measure(int n, Action op, int warmup = -1)
    {
        for (int i = 0, w = warmup < 0 ? Math.Min(n, 20_000) : warmup; i < w; i++)
        {
            op();
        }

        var samples = new double[n];
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < n; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            op();
            samples[i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
        }

        double totalSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        Array.Sort(samples);
        return [.. samples, n / totalSeconds];
    }

    private static void Print(string name, double[] samplesAndRate, bool target)
    {
        double rate = samplesAndRate[^1];
        double[] s = samplesAndRate[..^1];
        double P(double q) => s[Math.Min(s.Length - 1, (int)Math.Ceiling(q * s.Length) - 1)];
        string verdict = target ? (P(0.99) <= TargetMicros ? $"  p99 <= {TargetMicros} us: PASS" : $"  p99 > {TargetMicros} us: FAIL") : string.Empty;
        Console.WriteLine($"{name,-44} {s.Length,8} {rate,12:F0} {P(0.50),10:F2} {P(0.99),10:F2} {P(0.999),10:F2} {s[^1],10:F2}{verdict}");
    }
}
