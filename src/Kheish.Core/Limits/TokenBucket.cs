namespace Kheish.Core.Limits;

/// <summary>
/// A token bucket for one key: <c>rate</c> requests per minute, burst of the same size, refilled
/// continuously. Time comes from a <see cref="TimeProvider"/> so tests drive it; thread-safe.
/// </summary>
internal sealed class TokenBucket
{
    private readonly TimeProvider _clock;
    private readonly Lock _lock = new();
    private double _tokens;
    private long _last;

    public TokenBucket(int perMinute, TimeProvider clock)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perMinute, 1);
        PerMinute = perMinute;
        _clock = clock;
        _tokens = perMinute;
        _last = clock.GetTimestamp();
    }

    public int PerMinute { get; }

    /// <summary>Takes one token; when none is left, returns how long until one is (never zero).</summary>
    public bool TryTake(out TimeSpan retryAfter)
    {
        lock (_lock)
        {
            long now = _clock.GetTimestamp();
            double elapsed = _clock.GetElapsedTime(_last, now).TotalSeconds;
            _last = now;
            if (elapsed > 0)
            {
                _tokens = Math.Min(PerMinute, _tokens + (elapsed * PerMinute / 60.0));
            }

            if (_tokens >= 1)
            {
                _tokens -= 1;
                retryAfter = TimeSpan.Zero;
                return true;
            }

            double seconds = (1 - _tokens) * 60.0 / PerMinute;
            retryAfter = TimeSpan.FromSeconds(Math.Max(seconds, 0.001));
            return false;
        }
    }

    /// <summary>Gives back a token taken for a request that was then refused for another reason.</summary>
    public void Refund()
    {
        lock (_lock)
        {
            _tokens = Math.Min(PerMinute, _tokens + 1);
        }
    }
}
