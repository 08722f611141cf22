using System.Collections.Concurrent;
using Kheish.Core.Access;
using Kheish.Core.Errors;

namespace Kheish.Core.Limits;

/// <summary>
/// Admits or refuses one agent-plane request of an API key under its <see cref="ApiKeyLimits"/>:
/// budget first (nothing is spent on a refused call), then <c>max_concurrent</c>, then the
/// <c>rate_limit</c> token bucket. Limits are read from the key on every request, so an edit of
/// security.json applies at once (a changed rate starts a fresh bucket). Refusals are never queued.
/// </summary>
internal sealed class KeyLimiter(UsageBook usage)
{
    private readonly ConcurrentDictionary<string, KeyState> _keys = new(StringComparer.Ordinal);

    public UsageBook Usage => usage;

    /// <summary>
    /// Null and an admission to dispose when the call ends; or the refusal. Keys without limits
    /// get <see cref="KeyAdmission.None"/> at the cost of one null check.
    /// </summary>
    public LimitRefusal? TryAdmit(string keyId, ApiKeyLimits? limits, out KeyAdmission admission)
    {
        admission = KeyAdmission.None;
        if (limits is null)
        {
            return null;
        }

        if (limits.Budget is not null && !usage.Restored)
        {
            return new LimitRefusal(
                new KheishError("usage_restoring", ErrorKind.Unavailable,
                    $"API key {keyId} has a budget and this month's usage is still being read back from the ledger after the daemon started; retry in a moment"),
                TimeSpan.FromSeconds(1));
        }

        if (limits.Budget is { } budget && usage.CheckBudget(keyId, budget) is { } exhausted)
        {
            return exhausted;
        }

        KeyState state = _keys.GetOrAdd(keyId, static _ => new KeyState());
        if (limits.MaxConcurrent is { } max)
        {
            if (Interlocked.Increment(ref state.InFlight) > max)
            {
                Interlocked.Decrement(ref state.InFlight);
                return new LimitRefusal(
                    new KheishError(LimitRefusal.ConcurrencyLimitedCode, ErrorKind.RateLimited,
                        $"API key {keyId} already has {max} requests in flight (max_concurrent); retry when one finishes"),
                    TimeSpan.FromSeconds(1));
            }
        }

        if (limits.RateLimit is { } rate)
        {
            TokenBucket bucket = state.Bucket is { } b && b.PerMinute == rate ? b : state.Replace(rate, usage.Clock);
            if (!bucket.TryTake(out TimeSpan retryAfter))
            {
                if (limits.MaxConcurrent is not null)
                {
                    Interlocked.Decrement(ref state.InFlight);
                }

                long seconds = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds));
                return new LimitRefusal(
                    new KheishError(LimitRefusal.RateLimitedCode, ErrorKind.RateLimited,
                        $"API key {keyId} is over its rate limit of {rate} requests per minute; retry in {seconds} s (Retry-After)"),
                    retryAfter);
            }
        }

        admission = limits.MaxConcurrent is null ? KeyAdmission.None : new KeyAdmission(state);
        return null;
    }

    /// <summary>Requests of a key in flight now (those counted against max_concurrent).</summary>
    public int InFlight(string keyId) => _keys.TryGetValue(keyId, out KeyState? s) ? Volatile.Read(ref s.InFlight) : 0;

    internal sealed class KeyState
    {
        public int InFlight;
        private readonly Lock _gate = new();
        private TokenBucket? _bucket;

        public TokenBucket? Bucket => Volatile.Read(ref _bucket);

        public TokenBucket Replace(int rate, TimeProvider clock)
        {
            lock (_gate)
            {
                if (_bucket is { } current && current.PerMinute == rate)
                {
                    return current;
                }

                _bucket = new TokenBucket(rate, clock);
                return _bucket;
            }
        }
    }
}

/// <summary>Releases a key's concurrency slot once, when the call ends.</summary>
internal sealed class KeyAdmission : IDisposable
{
    public static readonly KeyAdmission None = new(null);

    private KeyLimiter.KeyState? _state;

    internal KeyAdmission(KeyLimiter.KeyState? state) => _state = state;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _state, null) is { } state)
        {
            Interlocked.Decrement(ref state.InFlight);
        }
    }
}
