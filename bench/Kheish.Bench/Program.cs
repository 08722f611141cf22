using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Kheish.Bench;
using Perfolizer.Horology;

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
