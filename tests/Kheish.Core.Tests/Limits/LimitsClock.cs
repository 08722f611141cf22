using Kheish.Core.Tests.Broker;

namespace Kheish.Core.Tests.Limits;

/// <summary>A <see cref="ManualClock"/> whose monotonic timestamps move with it (token buckets read them).</summary>
internal sealed class LimitsClock(DateTimeOffset start) : ManualClock(start)
{
    public LimitsClock()
        : this(new DateTimeOffset(2026, 3, 31, 23, 59, 0, TimeSpan.Zero))
    {
    }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => GetUtcNow().UtcTicks;
}
