using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Kheish.Bench;
using Kheish.Core.Access;
using Kheish.Core.Toml;
using Perfolizer.Horology;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

// One benchmark program, one mode per area (scripts/bench/*.sh pick the mode):
//   Kheish.Bench agent [seconds-per-case]              agent-plane access decision, 1 vs 1,000 keys (issue 7)
//   Kheish.Bench toml <document-out-path> [seconds]   TOML reader throughput (issue 3)
//   Kheish.Bench bdn | latency [n]                     broker lease issue/validate, revocation (issue 5)
//   Kheish.Bench fsync|fdatasync <dir> <seconds>       raw write(600 B)+sync loop, one thread (issue 6)
//   Kheish.Bench fdatasync-reserved <dir> <seconds>    the same into a zeroed reserve, as the ledger writes (issue 16)
//   Kheish.Bench append <state_root> <producers> <seconds> [buckets]   durable ledger appends (issue 6; buckets: issue 16)
//   Kheish.Bench ed25519 <seconds>                     our Ed25519 (NSec + embedded libsodium): sign/s, verify/s (issues 6, 11)
//   Kheish.Bench profile <dir> <seconds-per-stage>      where one append's microseconds go (issue 16)
//   Kheish.Bench paired <dir> <seconds>                fsync, fdatasync, reserved fdatasync, single-producer appends, interleaved (issue 6)
//   Kheish.Bench mcp-load <url> <clients> <calls> [api-key]   MCP tools/call echo load, raw JSON-RPC (issue 13)
//   Kheish.Bench fill <state_root> <records> <buckets>  a large genuine ledger for the startup bench (issue 16)
//   Kheish.Bench open <state_root> <times>             time opening that ledger and its background bucket check (issue 16)
return args switch
{
    ["toml", ..] => TomlMode.Run(args),
    ["agent", ..] => AgentMode.Run(args),
    ["fsync", string dir, string seconds] => LedgerBench.FsyncLoop(dir, Seconds(seconds), dataOnly: false),
    ["fdatasync", string dir, string seconds] => LedgerBench.FsyncLoop(dir, Seconds(seconds), dataOnly: true),
    ["fdatasync-reserved", string dir, string seconds] => LedgerBench.FsyncLoop(dir, Seconds(seconds), dataOnly: true, reserved: true),
    ["paired", string dir, string seconds] => await LedgerBench.PairedAsync(dir, Seconds(seconds)),
    ["mcp-load", string url, string clients, string calls] => await McpLoad.RunAsync(url, Int(clients), Int(calls), null),
    ["mcp-load", string url, string clients, string calls, string key] => await McpLoad.RunAsync(url, Int(clients), Int(calls), key),
    ["ed25519", string seconds] => CryptoBench.Run(Seconds(seconds)),
    ["fill", string root, string records, string buckets] =>
        await LedgerFill.RunAsync(root, long.Parse(records, CultureInfo.InvariantCulture), int.Parse(buckets, CultureInfo.InvariantCulture)),
    ["open", string root, string times] => await LedgerFill.OpenAsync(root, int.Parse(times, CultureInfo.InvariantCulture)),
    ["profile", string dir, string seconds] => await AppendProfile.RunAsync(dir, Seconds(seconds)),
    ["append", string root, string producers, string seconds] =>
        await LedgerBench.AppendAsync(root, int.Parse(producers, CultureInfo.InvariantCulture), Seconds(seconds)),
    ["append", string root, string producers, string seconds, string buckets] =>
        await LedgerBench.AppendAsync(root, int.Parse(producers, CultureInfo.InvariantCulture), Seconds(seconds), int.Parse(buckets, CultureInfo.InvariantCulture)),
    _ => BrokerMode.Run(args),
};

static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);

static TimeSpan Seconds(string s) => TimeSpan.FromSeconds(double.Parse(s, CultureInfo.InvariantCulture));

internal static class TomlMode
{
    public static int Run(string[] args)
    {
        // Usage: Kheish.Bench toml <document-out-path> [seconds]
        // Writes the generated document (so another parser can read the same bytes) and prints
        // "ours_mb_per_s=<n> ours_alloc_bytes_per_parse=<n> bytes=<n>" after timed parses.
        if (args.Length < 2 || args[0] != "toml")
        {
            Console.Error.WriteLine("usage: Kheish.Bench toml <document-out-path> [seconds]");
            return 2;
        }

        string document = TomlDocumentGenerator.Generate(1 << 20);
        byte[] utf8 = Encoding.UTF8.GetBytes(document);
        File.WriteAllBytes(args[1], utf8);
        double seconds = args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 5;

        // The same entry point a caller with bytes uses: UTF-8 validation and decoding included.
        static TomlTable ParseOnce(byte[] bytes) =>
            TomlReader.TryParse(bytes, out TomlTable? table, out TomlError? error) ? table : throw new InvalidOperationException(error.ToString());

        // Warm up (tiered JIT) before measuring.
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < Math.Min(2, seconds / 2))
        {
            ParseOnce(utf8);
        }

        GC.Collect();
        long allocBefore = GC.GetAllocatedBytesForCurrentThread();
        ParseOnce(utf8);
        long allocPerParse = GC.GetAllocatedBytesForCurrentThread() - allocBefore;

        int iterations = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            ParseOnce(utf8);
            iterations++;
        }

        double mbPerSecond = utf8.Length * (double)iterations / sw.Elapsed.TotalSeconds / 1e6;
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"ours_mb_per_s={mbPerSecond:F1} ours_alloc_bytes_per_parse={allocPerParse} bytes={utf8.Length} iterations={iterations}"));
        return 0;
    }
}

internal static class BrokerMode
{
    public static int Run(string[] args)
    {
        // Usage: Kheish.Bench bdn        BenchmarkDotNet short job (in-process), with P95/P99 columns
        //        Kheish.Bench latency [n] per-operation latency, fsync and durable revocation
        string mode = args.Length > 0 ? args[0] : "bdn";
        if (mode == "latency")
        {
            LatencyBench.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 200_000);
            return 0;
        }

        Job shortJob = Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(15)
            .WithIterationTime(TimeInterval.FromMilliseconds(100))
            .WithId("short");
        IConfig config = DefaultConfig.Instance
            .AddJob(shortJob)
            .AddColumn(StatisticColumn.P95, new P99Column(), StatisticColumn.OperationsPerSecond)
            .WithArtifactsPath(Path.Combine(BenchDirectory.Root, "BenchmarkDotNet.Artifacts"));
        Summary summary = BenchmarkRunner.Run<BrokerBenchmarks>(config, args.Skip(1).ToArray());

        // One line per benchmark against the issue's target (p99 of BenchmarkDotNet's iteration means).
        const double targetMicros = 20.0;
        Console.WriteLine();
        Console.WriteLine($"{"benchmark",-24} {"ops/s",12} {"mean us",9} {"p95 us",9} {"p99 us",9}  target p99 <= {targetMicros} us");
        foreach (BenchmarkReport report in summary.Reports)
        {
            if (report.ResultStatistics is not { } stats)
            {
                Console.WriteLine($"{report.BenchmarkCase.Descriptor.WorkloadMethod.Name,-24} no result");
                continue;
            }

            double p99 = stats.Percentiles.Percentile(99) / 1000.0;
            Console.WriteLine(
                $"{report.BenchmarkCase.Descriptor.WorkloadMethod.Name,-24} {1e9 / stats.Mean,12:F0} {stats.Mean / 1000.0,9:F3} " +
                $"{stats.Percentiles.P95 / 1000.0,9:F3} {p99,9:F3}  {(p99 <= targetMicros ? "PASS" : "FAIL")}");
        }

        return 0;
    }
}

internal static class AgentMode
{
    public static int Run(string[] args)
    {
        // Measures AgentAccessPolicy.Evaluate per request with 1 and 1,000 keys configured: the
        // lookup is by digest (dictionary), so the cost must not grow with the number of keys.
        // Also measures SecurityConfigSource.Current(), the per-request stat of security.json.
        double seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 1.0;
        IPAddress client = IPAddress.Loopback;

        var cases = new List<(string Name, Func<AgentAccessDecision> Op)>();
        var cleanup = new List<string>();
        foreach (int keyCount in new[] { 1, 1000 })
        {
            string[] keys = [.. Enumerable.Range(0, keyCount).Select(_ => ApiKeys.Generate())];
            var entries = keys.Select((k, i) =>
            {
                KeyDigest d = ApiKeys.Digest(k);
                return new ApiKeyEntry { Id = ApiKeys.DeriveId(d), Digest = d, Principal = $"agent:{i}" };
            }).ToList();
            var allow = new IpAllowList([IpRule.Parse("127.0.0.1").Value, IpRule.Parse("::1").Value, IpRule.Parse("10.0.0.0/8").Value]);
            var config = new SecurityConfig(SecurityMode.Strict, entries, allow, IpAllowList.Empty, null);
            var snapshot = SecurityConfigSnapshot.Valid(SecurityConfigOrigin.Project, "bench", config);
            string valid = keys[keyCount / 2];
            string invalid = ApiKeys.Generate();

            cases.Add(($"Evaluate strict, valid X-API-Key, {keyCount} key(s)", () => AgentAccessPolicy.Evaluate(snapshot, client, null, valid, null)));
            cases.Add(($"Evaluate strict, valid Bearer, {keyCount} key(s)", () => AgentAccessPolicy.Evaluate(snapshot, client, null, null, "Bearer " + valid)));
            cases.Add(($"Evaluate strict, unknown key, {keyCount} key(s)", () => AgentAccessPolicy.Evaluate(snapshot, client, null, invalid, null)));

            string dir = Path.Combine(Path.GetTempPath(), "kheish-agent-bench-" + Guid.NewGuid().ToString("N"));
            var location = SecurityConfigLocation.Resolve(dir, name => name == "XDG_CONFIG_HOME" ? Path.Combine(dir, "xdg") : null);
            SecurityConfigFile.Save(location.ProjectFile, config);
            var source = new SecurityConfigSource(location);
            cases.Add(($"Current() + Evaluate (stat per request), {keyCount} key(s)", () => AgentAccessPolicy.Evaluate(source.Current(), client, null, valid, null)));
            cleanup.Add(dir);
        }

        // Rounds interleave the cases so machine noise hits 1 and 1,000 keys alike; best round wins.
        double[] best = [.. cases.Select(_ => double.MaxValue)];
        for (int round = 0; round < 3; round++)
        {
            for (int c = 0; c < cases.Count; c++)
            {
                best[c] = Math.Min(best[c], Measure(cases[c].Name, cases[c].Op));
            }
        }

        Console.WriteLine($"agent-plane access decision, {seconds:0.0} s per case per round, best of 3 interleaved rounds");
        Console.WriteLine($"{"case",-56} {"ns/op",8} {"ops/s",12}");
        for (int c = 0; c < cases.Count; c++)
        {
            Console.WriteLine($"{cases[c].Name,-56} {best[c],8:0} {1e9 / best[c],12:N0}");
        }

        foreach (string dir in cleanup)
        {
            Directory.Delete(dir, recursive: true);
        }

        return 0;

        double Measure(string name, Func<AgentAccessDecision> op)
        {
            if (op() is not AgentAccessAllowed && !name.Contains("unknown", StringComparison.Ordinal))
            {
                throw new InvalidOperationException(name + ": expected an allowed decision");
            }

            long n = 0;
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed.TotalSeconds < seconds)
            {
                for (int i = 0; i < 1000; i++)
                {
                    op();
                }

                n += 1000;
            }

            return sw.Elapsed.TotalNanoseconds / n;
        }
    }
}
