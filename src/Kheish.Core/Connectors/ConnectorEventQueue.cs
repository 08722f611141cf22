namespace Kheish.Core.Connectors;

/// <summary>
/// The verified ingress events of one connector waiting for their consumer (its sidecar, by
/// long poll, or an admin). Bounded: past <see cref="Capacity"/> the oldest event is dropped and
/// counted, so a sidecar that stopped reading cannot grow the daemon's memory.
/// </summary>
internal sealed class ConnectorEventQueue
{
    public const int Capacity = 256;

    private readonly Lock _gate = new();
    private readonly Queue<ConnectorEvent> _events = new();
    private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _dropped;

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _events.Count;
            }
        }
    }

    public long Dropped => Interlocked.Read(ref _dropped);

    public void Add(ConnectorEvent ev)
    {
        lock (_gate)
        {
            if (_events.Count >= Capacity)
            {
                _events.Dequeue();
                Interlocked.Increment(ref _dropped);
            }

            _events.Enqueue(ev);
            _arrived.TrySetResult();
        }
    }

    public IReadOnlyList<ConnectorEvent> Peek()
    {
        lock (_gate)
        {
            return [.. _events];
        }
    }

    /// <summary>Removes and returns up to <paramref name="max"/> events, waiting up to <paramref name="wait"/> for the first.</summary>
    public async Task<IReadOnlyList<ConnectorEvent>> TakeAsync(int max, TimeSpan wait, CancellationToken ct)
    {
        Task arrived;
        lock (_gate)
        {
            if (_events.Count > 0)
            {
                return TakeLocked(max);
            }

            if (_arrived.Task.IsCompleted)
            {
                _arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            arrived = _arrived.Task;
        }

        try
        {
            await arrived.WaitAsync(wait, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        lock (_gate)
        {
            return TakeLocked(max);
        }
    }

    private List<ConnectorEvent> TakeLocked(int max)
    {
        var taken = new List<ConnectorEvent>();
        while (taken.Count < max && _events.TryDequeue(out ConnectorEvent? ev))
        {
            taken.Add(ev);
        }

        return taken;
    }
}
