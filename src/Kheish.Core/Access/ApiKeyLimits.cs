namespace Kheish.Core.Access;

/// <summary>
/// Daily and monthly allowances of one API key (UTC calendar days and months). Tokens are what
/// the upstream reported in its <c>usage</c> (input + output). A null field is no bound.
/// </summary>
internal sealed record ApiKeyBudget(long? RequestsPerDay = null, long? TokensPerDay = null, long? TokensPerMonth = null)
{
    public const long MaxValue = 1_000_000_000_000;

    public string? Validate()
    {
        foreach ((string name, long? value) in new[] { ("requests_per_day", RequestsPerDay), ("tokens_per_day", TokensPerDay), ("tokens_per_month", TokensPerMonth) })
        {
            if (value is < 1 or > MaxValue)
            {
                return $"budget.{name} must be an integer from 1 to {MaxValue} (leave it out for no bound)";
            }
        }

        return RequestsPerDay is null && TokensPerDay is null && TokensPerMonth is null
            ? "budget must set at least one of requests_per_day, tokens_per_day, tokens_per_month (leave budget out for no bound)"
            : null;
    }
}

/// <summary>
/// Per-key limits on the agent plane (egress and <c>/mcp</c>): <c>rate_limit</c> requests per
/// minute (a token bucket whose burst is the same size), <c>max_concurrent</c> requests in flight,
/// and a <see cref="ApiKeyBudget"/>. Absent fields are unlimited.
/// </summary>
internal sealed record ApiKeyLimits(int? RateLimit = null, int? MaxConcurrent = null, ApiKeyBudget? Budget = null)
{
    public const int MaxRateLimit = 1_000_000;
    public const int MaxConcurrentLimit = 100_000;

    public bool IsEmpty => RateLimit is null && MaxConcurrent is null && Budget is null;

    /// <summary>Null when well formed, else what is wrong (field names only).</summary>
    public string? Validate()
    {
        if (RateLimit is < 1 or > MaxRateLimit)
        {
            return $"rate_limit must be an integer from 1 to {MaxRateLimit} requests per minute (leave it out for no limit)";
        }

        if (MaxConcurrent is < 1 or > MaxConcurrentLimit)
        {
            return $"max_concurrent must be an integer from 1 to {MaxConcurrentLimit} (leave it out for no limit)";
        }

        return Budget?.Validate();
    }

    /// <summary>Null for "no limits", so an entry without any stays as it was.</summary>
    public static ApiKeyLimits? OrNull(int? rateLimit, int? maxConcurrent, ApiKeyBudget? budget)
    {
        var limits = new ApiKeyLimits(rateLimit, maxConcurrent, budget);
        return limits.IsEmpty ? null : limits;
    }
}
