namespace Kheish.Core.Tests.Limits;

/// <summary>A clock whose wall time and monotonic timestamps both move only by hand.</summary>
internal sealed class LimitsClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public LimitsClock()
        : this(new DateTimeOffset(2026, 3, 31, 23, 59, 0, TimeSpan.Zero))
    {
    }

    public override DateTimeOffset GetUtcNow() => _now;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => _now.UtcTicks;

    public void Advance(TimeSpan by) => _now += by;
}
