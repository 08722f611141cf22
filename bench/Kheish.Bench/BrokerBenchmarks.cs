using BenchmarkDotNet.Attributes;
using Kheish.Core.Broker;

namespace Kheish.Bench;

/// <summary>Lease issue and validate in-process (issue 5 target: p99 ≤ 20 µs each).</summary>
[MemoryDiagnoser]
public class BrokerBenchmarks
{
    private const int LiveLeases = 10_000;
    private static readonly RouteAudience Audience = new("openai", "openai.default");
    private static readonly SubjectId Subject = SubjectId.ForAgent("bench");

    private BrokerHarness _issuing = null!;
    private BrokerHarness _validating = null!;
    private string[] _tokens = [];
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        // Issuing: the clock steps 1 ms per lease, so 60 s leases expire and get pruned (~60k live).
        _issuing = new BrokerHarness(new SteppingClock());
        // Validating: a frozen clock and 10k live leases, presented round-robin.
        _validating = new BrokerHarness();
        _tokens = _validating.IssueMany(LiveLeases);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _issuing.Dispose();
        _validating.Dispose();
    }

    [Benchmark]
    public bool IssueRouteLease() =>
        _issuing.Broker.IssueRouteLease(Subject, CredentialScope.Unrestricted, "openai", "openai.default").IsOk;

    [Benchmark]
    public bool ValidateRouteLease()
    {
        string token = _tokens[_next++ % _tokens.Length];
        return _validating.Broker.Validate(token, Audience).IsOk;
    }

    [Benchmark]
    public bool ValidateUnknownToken() => _validating.Broker.Validate(BrokerHarness.UnknownToken, Audience).IsOk;
}
