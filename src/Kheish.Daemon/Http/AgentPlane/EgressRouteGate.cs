using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace Kheish.Daemon.Http.AgentPlane;

/// <summary>Counts upstream calls in flight per route; a call over the limit is refused, never queued.</summary>
internal sealed class EgressRouteGate(int maxPerRoute)
{
    private readonly ConcurrentDictionary<string, StrongBox<int>> _inFlight = new(StringComparer.Ordinal);

    public bool TryEnter(string routeId)
    {
        StrongBox<int> box = _inFlight.GetOrAdd(routeId, static _ => new StrongBox<int>(0));
        if (Interlocked.Increment(ref box.Value) <= maxPerRoute)
        {
            return true;
        }

        Interlocked.Decrement(ref box.Value);
        return false;
    }

    public void Exit(string routeId) => Interlocked.Decrement(ref _inFlight[routeId].Value);
}
