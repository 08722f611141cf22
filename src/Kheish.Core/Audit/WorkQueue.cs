namespace Kheish.Core.Audit;

/// <summary>
/// A blocking FIFO for the ledger's and the transparency log's dedicated threads that waits
/// without spinning. <see cref="System.Collections.Concurrent.BlockingCollection{T}"/> waits on a
/// <see cref="SemaphoreSlim"/>, which spins (sched_yield, then sleep(0)) before it blocks; with a
/// batch arriving every millisecond or so its consumers never reached the block and a profile of
/// audited MCP calls spent over a third of the daemon's samples in those yields on 2 cores.
/// Here a waiting consumer sleeps on the monitor until it is pulsed.
/// </summary>
internal sealed class WorkQueue<T>
{
    private readonly Queue<T> _items = new();
    private readonly object _gate = new();
    private bool _completed;
    private int _waiting;

    /// <summary>True once <see cref="CompleteAdding"/> was called and every item was taken.</summary>
    public bool IsCompleted
    {
        get
        {
            lock (_gate)
            {
                return _completed && _items.Count == 0;
            }
        }
    }

    /// <summary>Queues <paramref name="item"/>; false (and nothing queued) after <see cref="CompleteAdding"/>.</summary>
    public bool TryAdd(T item)
    {
        lock (_gate)
        {
            if (_completed)
            {
                return false;
            }

            _items.Enqueue(item);
            if (_waiting > 0)
            {
                Monitor.Pulse(_gate);
            }

            return true;
        }
    }

    /// <summary>
    /// Takes the oldest item, waiting up to <paramref name="millisecondsTimeout"/>
    /// (<see cref="Timeout.Infinite"/>: until one comes or adding completes; 0: no wait).
    /// False when it timed out, or when adding completed and the queue is empty.
    /// </summary>
    public bool TryTake(out T item, int millisecondsTimeout = 0)
    {
        long deadline = millisecondsTimeout == Timeout.Infinite ? long.MaxValue : Environment.TickCount64 + millisecondsTimeout;
        lock (_gate)
        {
            while (_items.Count == 0)
            {
                bool forever = deadline == long.MaxValue;
                long left = forever ? 0 : deadline - Environment.TickCount64;
                if (_completed || (!forever && left <= 0))
                {
                    item = default!;
                    return false;
                }

                _waiting++;
                try
                {
                    Monitor.Wait(_gate, forever ? Timeout.Infinite : (int)Math.Min(left, int.MaxValue));
                }
                finally
                {
                    _waiting--;
                }
            }

            item = _items.Dequeue();
            return true;
        }
    }

    /// <summary>Every item until adding completes and the queue is drained.</summary>
    public IEnumerable<T> GetConsumingEnumerable()
    {
        while (TryTake(out T item, Timeout.Infinite))
        {
            yield return item;
        }
    }

    /// <summary>No more items are accepted; waiting consumers wake, drain what is left and stop.</summary>
    public void CompleteAdding()
    {
        lock (_gate)
        {
            _completed = true;
            Monitor.PulseAll(_gate);
        }
    }
}
