using Kheish.Core.Broker;

namespace Kheish.Bench;

/// <summary>A broker over a state file on the real disk (not tmpfs, so fsync costs what it costs).</summary>
internal sealed class BrokerHarness : IDisposable
{
    public static readonly string UnknownToken = LeaseToken.New();

    public BrokerHarness(TimeProvider? clock = null)
    {
        Directory = Path.Combine(BenchDirectory.Root, "broker-" + Guid.NewGuid().ToString("N"));
        StatePath = Path.Combine(Directory, "auth", "global-slots.broker-state.json");
        Broker = CredentialBroker.Open(StatePath, PlainStateFileCodec.Instance, clock ?? new FrozenClock()).Value;
    }

    public string Directory { get; }

    public string StatePath { get; }

    public CredentialBroker Broker { get; }

    public string[] IssueMany(int count, string slot = "openai.default")
    {
        var tokens = new string[count];
        for (int i = 0; i < count; i++)
        {
            tokens[i] = Broker.IssueRouteLease(SubjectId.ForAgent("a" + (i % 100)), CredentialScope.Unrestricted, "openai", slot).Value.Token;
        }

        return tokens;
    }

    public void Dispose()
    {
        if (System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }
}

/// <summary>A clock that never moves: issued leases never expire during a measurement.</summary>
internal sealed class FrozenClock : TimeProvider
{
    private readonly DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;
}

internal static class BenchDirectory
{
    /// <summary>KHEISH_BENCH_DIR, else .cache/bench under the current directory.</summary>
    public static string Root { get; } = Environment.GetEnvironmentVariable("KHEISH_BENCH_DIR") is { Length: > 0 } dir
        ? dir
        : Path.Combine(Environment.CurrentDirectory, ".cache", "bench");
}
