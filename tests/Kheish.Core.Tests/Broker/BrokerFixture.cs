using Kheish.Core.Broker;

namespace Kheish.Core.Tests.Broker;

/// <summary>A temp state file, a manual clock, and a way to reopen the broker "after a restart".</summary>
internal sealed class BrokerFixture : IDisposable
{
    public BrokerFixture(IStateFileCodec? codec = null)
    {
        Codec = codec ?? PlainStateFileCodec.Instance;
        Broker = Reopen();
    }

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "kheish-broker-" + Guid.NewGuid().ToString("N"));

    public string StatePath => Path.Combine(Directory, "auth", "global-slots.broker-state.json");

    public string JournalPath => Path.Combine(Directory, "auth", "global-slots.broker-state.journal");

    public ManualClock Clock { get; } = new();

    public IStateFileCodec Codec { get; }

    public CredentialBroker Broker { get; private set; }

    public static SubjectId Agent { get; } = SubjectId.ForAgent("coder");

    /// <summary>A new broker instance loaded from the file, as after a restart (or a crash: nothing is flushed).</summary>
    public CredentialBroker Reopen()
    {
        Broker?.Dispose();
        Broker = CredentialBroker.Open(StatePath, Codec, Clock).Value;
        return Broker;
    }

    public IssuedLease IssueRoute(string route = "openai", string slot = "openai.default", SubjectId? subject = null, TimeSpan? ttl = null) =>
        Broker.IssueRouteLease(subject ?? Agent, CredentialScope.Unrestricted, route, slot, ttl).Value;

    public void Dispose()
    {
        Broker.Dispose();
        if (System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }
}
