namespace Kheish.Core.Metrics;

/// <summary>
/// A lock-free histogram with fixed upper bounds (Prometheus style: a value lands in the first
/// bucket whose bound is at least it; the implicit +Inf bucket takes the rest).
/// </summary>
internal sealed class Histogram
{
    /// <summary>Seconds, from 0.5 ms to 30 s: request and sync latencies.</summary>
    public static readonly double[] LatencySeconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    /// <summary>Records per group commit.</summary>
    public static readonly double[] BatchSizes = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

    private readonly long[] _counts;
    private long _sumBits;
    private long _count;

    public Histogram(double[] bounds)
    {
        Bounds = bounds;
        _counts = new long[bounds.Length + 1];
    }

    public double[] Bounds { get; }

    public void Observe(double value)
    {
        int i = 0;
        while (i < Bounds.Length && value > Bounds[i])
        {
            i++;
        }

        Interlocked.Increment(ref _counts[i]);
        Interlocked.Increment(ref _count);
        long seen = Volatile.Read(ref _sumBits);
        while (true)
        {
            long next = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(seen) + value);
            long was = Interlocked.CompareExchange(ref _sumBits, next, seen);
            if (was == seen)
            {
                return;
            }

            seen = was;
        }
    }

    /// <summary>Cumulative counts per bound (the last is +Inf), the sum and the count, read together.</summary>
    public (long[] Cumulative, double Sum, long Count) Snapshot()
    {
        long[] cumulative = new long[_counts.Length];
        long running = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            running += Volatile.Read(ref _counts[i]);
            cumulative[i] = running;
        }

        // The count is the +Inf bucket, so the exposition is self-consistent even mid-update.
        return (cumulative, BitConverter.Int64BitsToDouble(Volatile.Read(ref _sumBits)), running);
    }
}
