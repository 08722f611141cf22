using System.Collections.Concurrent;

namespace Kheish.Core.Connectors;

/// <summary>
/// Counts refused ingress requests per connector in a fixed window. Consulted before any
/// signature or token is checked, so a connector's endpoint cannot be used as a guessing oracle.
/// </summary>
internal sealed class IngressFailureLimiter(TimeProvider clock, int limit = 30, TimeSpan? window = null)
{
    private readonly TimeSpan _window = window ?? TimeSpan.FromSeconds(60);
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);

    public int? RetryAfterSeconds(string connector)
    {
        if (!_buckets.TryGetValue(connector, out Bucket? bucket))
        {
            return null;
        }

        lock (bucket)
        {
            TimeSpan elapsed = clock.GetElapsedTime(bucket.WindowStart);
            if (elapsed >= _window || bucket.Count < limit)
            {
                return null;
            }

            return Math.Max(1, (int)Math.Ceiling((_window - elapsed).TotalSeconds));
        }
    }

    public void RecordFailure(string connector)
    {
        Bucket bucket = _buckets.GetOrAdd(connector, _ => new Bucket(clock.GetTimestamp()));
        lock (bucket)
        {
            if (clock.GetElapsedTime(bucket.WindowStart) >= _window)
            {
                bucket.WindowStart = clock.GetTimestamp();
                bucket.Count = 0;
            }

            bucket.Count++;
        }
    }

    private sealed class Bucket(long start)
    {
        public long WindowStart { get; set; } = start;
        public int Count { get; set; }
    }
}
