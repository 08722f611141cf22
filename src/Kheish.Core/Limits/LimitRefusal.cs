using Kheish.Core.Errors;

namespace Kheish.Core.Limits;

/// <summary>
/// Why a key's request was refused by its limits, and when to try again (whole seconds, rounded
/// up, for <c>Retry-After</c>). Codes: <c>rate_limited_key</c>, <c>concurrency_limited_key</c>,
/// <c>budget_exhausted</c>; all are HTTP 429.
/// </summary>
internal sealed record LimitRefusal(KheishError Error, TimeSpan RetryAfter)
{
    public const string RateLimitedCode = "rate_limited_key";
    public const string ConcurrencyLimitedCode = "concurrency_limited_key";
    public const string BudgetExhaustedCode = "budget_exhausted";

    public long RetryAfterSeconds => Math.Max(1, (long)Math.Ceiling(RetryAfter.TotalSeconds));
}
