using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
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
BenchmarkRunner.Run<BrokerBenchmarks>(config, args.Skip(1).ToArray());
return 0;
