using System.Collections.Concurrent;
using Kheish.Core.Audit;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Http.AgentPlane;

/// <summary>
/// Bounds how many new ledger buckets (a run or session id not seen before) one API key may
/// open per minute: run ids come from agents, and every new bucket is a file, a checkpoint and
/// an index entry. Buckets already on disk or already seen are never counted.
/// </summary>
internal sealed class NewBucketLimiter(LedgerPaths paths, TimeProvider clock, int perMinute = NewBucketLimiter.DefaultPerMinute)
{
    public const int DefaultPerMinute = 120;
    private const int MaxKnown = 200_000;
    private readonly ConcurrentDictionary<string, byte> _known = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);

    public KheishError? Admit(string keyIdentity, string bucket)
    {
        if (_known.ContainsKey(bucket))
        {
            return null;
        }

        if (File.Exists(paths.RecordFile(BucketName.FileStem(bucket))))
        {
            Remember(bucket);
            return null;
        }

        Window window = _windows.GetOrAdd(keyIdentity, _ => new Window(clock.GetTimestamp()));
        lock (window)
        {
            long now = clock.GetTimestamp();
            if (clock.GetElapsedTime(window.Start, now) >= TimeSpan.FromMinutes(1))
            {
                window.Start = now;
                window.Count = 0;
            }

            if (window.Count >= perMinute)
            {
                return new KheishError("too_many_new_buckets", ErrorKind.RateLimited,
                    $"this API key opened {perMinute} new run/session ledger buckets in the last minute; reuse a run id (X-Kheish-Run-Id) or retry later");
            }

            window.Count++;
        }

        Remember(bucket);
        return null;
    }

    private void Remember(string bucket)
    {
        if (_known.Count >= MaxKnown)
        {
            _known.Clear();
        }

        _known.TryAdd(bucket, 0);
    }

    private sealed class Window(long start)
    {
        public long Start { get; set; } = start;
        public int Count { get; set; }
    }
}
