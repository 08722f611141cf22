using TUnit.Core.Interfaces;

[assembly: ParallelLimiter<Kheish.Daemon.Tests.Support.SharedMachineLimit>]

namespace Kheish.Daemon.Tests.Support;

/// <summary>
/// Most tests here start the real daemon or CLI processes. On the project's 2-core machines an
/// unbounded fan-out turns start-up timeouts into flakes, so at most this many run at once
/// (KHEISH_TEST_PARALLEL overrides; tests that share one resource, such as a tmux server, also
/// declare <c>[NotInParallel]</c> with that resource's key).
/// </summary>
public sealed class SharedMachineLimit : IParallelLimit
{
    public int Limit { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("KHEISH_TEST_PARALLEL"), out int n) && n > 0
            ? n
            : Math.Max(2, Environment.ProcessorCount * 2);
}
