using System.Collections.Concurrent;
using System.Net;

namespace Kheish.Daemon.Http.ControlPlane;

/// <summary>
/// Counts authentication failures per client address in a fixed window. It is consulted
/// BEFORE any token is looked at, so a client past the limit cannot keep guessing.
/// </summary>
internal sealed class FailureRateLimiter(TimeProvider clock, int limit = 60, TimeSpan? window = null)
{
    private const int MaxTrackedClients = 100_000;
    private readonly TimeSpan _window = window ?? TimeSpan.FromSeconds(60);
    private readonly ConcurrentDictionary<IPAddress, Bucket> _buckets = new();

    public int Limit => limit;

    /// <summary>Seconds until the client may try again, or null when it is under the limit.</summary>
    public int? RetryAfterSeconds(IPAddress client)
    {
        if (!_buckets.TryGetValue(client, out Bucket? bucket))
        {
            return null;
        }

        lock (bucket)
        {
            long now = clock.GetTimestamp();
            TimeSpan elapsed = clock.GetElapsedTime(bucket.WindowStart, now);
            if (elapsed >= _window)
            {
                return null;
            }

            return bucket.Count >= limit ? Math.Max(1, (int)Math.Ceiling((_window - elapsed).TotalSeconds)) : null;
        }
    }

    /// <summary>Records one failure; returns true when this failure reached the limit.</summary>
    public bool RecordFailure(IPAddress client)
    {
        if (_buckets.Count > MaxTrackedClients)
        {
            Prune();
        }

        Bucket bucket = _buckets.GetOrAdd(client, _ => new Bucket(clock.GetTimestamp()));
        lock (bucket)
        {
            long now = clock.GetTimestamp();
            if (clock.GetElapsedTime(bucket.WindowStart, now) >= _window)
            {
                bucket.WindowStart = now;
                bucket.Count = 0;
            }

            bucket.Count++;
            return bucket.Count == limit;
        }
    }

    private void Prune()
    {
        long now = clock.GetTimestamp();
        foreach (var (ip, bucket) in _buckets)
        {
            if (clock.GetElapsedTime(bucket.WindowStart, now) >= _window)
            {
                _buckets.TryRemove(ip, out _);
            }
        }
    }

    private sealed class Bucket(long start)
    {
        public long WindowStart { get; set; } = start;
        public int Count { get; set; }
    }
}
