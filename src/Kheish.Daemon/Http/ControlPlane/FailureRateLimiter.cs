using System.Collections.Concurrent;
using System.Net;

namespace Kheish.Daemon.Http.ControlPlane;

/// <summary>
/// Counts authentication failures (bad tokens or API keys, foreign Host or Origin) per client
/// network in a fixed window, to protect the audit log and the CPU. It never refuses a valid
/// credential (tokens are 32+ random characters, so guessing is moot): a local process sending
/// bad tokens cannot lock the operator out. Clients are grouped by network so rotating source
/// addresses does not walk past it: all of loopback is one client, other IPv4 by /24, IPv6 by /64.
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
        if (!_buckets.TryGetValue(KeyOf(client), out Bucket? bucket))
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

        Bucket bucket = _buckets.GetOrAdd(KeyOf(client), _ => new Bucket(clock.GetTimestamp()));
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

    /// <summary>The network a client address is counted under (see the type's summary).</summary>
    public static IPAddress KeyOf(IPAddress client)
    {
        IPAddress ip = client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client;
        if (IPAddress.IsLoopback(ip))
        {
            return IPAddress.Loopback;
        }

        byte[] bytes = ip.GetAddressBytes();
        int keep = bytes.Length == 4 ? 3 : 8;
        Array.Clear(bytes, keep, bytes.Length - keep);
        return new IPAddress(bytes);
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
