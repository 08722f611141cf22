namespace Kheish.Bench;

/// <summary>
/// A clock that moves 1 ms on every reading: with 60 s route leases the broker holds a
/// steady ~60k live leases and prunes as it would under sustained load.
/// </summary>
internal sealed class SteppingClock : TimeProvider
{
    private long _ticks = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    public override DateTimeOffset GetUtcNow() =>
        new(Interlocked.Add(ref _ticks, TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
}
