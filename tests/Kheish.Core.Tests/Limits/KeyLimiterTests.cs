using Kheish.Core.Access;
using Kheish.Core.Limits;

namespace Kheish.Core.Tests.Limits;

public sealed class KeyLimiterTests
{
    [Test]
    public async Task A_key_without_limits_is_always_admitted()
    {
        var limiter = new KeyLimiter(new UsageBook(new LimitsClock()));
        for (int i = 0; i < 1000; i++)
        {
            await Assert.That(limiter.TryAdmit("k", null, out _)).IsNull();
        }
    }

    [Test]
    public async Task Max_concurrent_refuses_the_extra_call_and_frees_the_slot_when_one_ends()
    {
        var limiter = new KeyLimiter(new UsageBook(new LimitsClock()));
        var limits = new ApiKeyLimits(MaxConcurrent: 2);
        await Assert.That(limiter.TryAdmit("k", limits, out KeyAdmission first)).IsNull();
        await Assert.That(limiter.TryAdmit("k", limits, out KeyAdmission second)).IsNull();
        await Assert.That(limiter.TryAdmit("k", limits, out _)?.Error.Code).IsEqualTo(LimitRefusal.ConcurrencyLimitedCode);

        first.Dispose();
        first.Dispose();
        await Assert.That(limiter.InFlight("k")).IsEqualTo(1);
        await Assert.That(limiter.TryAdmit("k", limits, out KeyAdmission third)).IsNull();
        second.Dispose();
        third.Dispose();
        await Assert.That(limiter.InFlight("k")).IsEqualTo(0);
    }

    [Test]
    public async Task A_rate_refusal_does_not_hold_a_concurrency_slot()
    {
        var limiter = new KeyLimiter(new UsageBook(new LimitsClock()));
        var limits = new ApiKeyLimits(RateLimit: 1, MaxConcurrent: 5);
        await Assert.That(limiter.TryAdmit("k", limits, out KeyAdmission one)).IsNull();
        one.Dispose();
        LimitRefusal? refused = limiter.TryAdmit("k", limits, out _);
        await Assert.That(refused?.Error.Code).IsEqualTo(LimitRefusal.RateLimitedCode);
        await Assert.That(refused!.RetryAfterSeconds).IsEqualTo(60);
        await Assert.That(limiter.InFlight("k")).IsEqualTo(0);
    }

    [Test]
    public async Task An_exhausted_budget_refuses_before_a_rate_token_is_spent()
    {
        var clock = new LimitsClock();
        var book = new UsageBook(clock);
        book.MarkRestored();
        var limiter = new KeyLimiter(book);
        book.CountRequest("k", "openai", clock.GetUtcNow());
        var limits = new ApiKeyLimits(RateLimit: 1, Budget: new ApiKeyBudget(RequestsPerDay: 1));
        await Assert.That(limiter.TryAdmit("k", limits, out _)?.Error.Code).IsEqualTo(LimitRefusal.BudgetExhaustedCode);
        // The day ends (LimitsClock starts at 23:59): the budget renews and the untouched rate token is there.
        clock.Advance(TimeSpan.FromMinutes(2));
        await Assert.That(limiter.TryAdmit("k", limits, out _)).IsNull();
    }

    [Test]
    public async Task Until_usage_is_restored_only_keys_with_a_budget_are_refused_and_with_503()
    {
        var book = new UsageBook(new LimitsClock());
        var limiter = new KeyLimiter(book);
        var budgeted = new ApiKeyLimits(Budget: new ApiKeyBudget(RequestsPerDay: 100));

        LimitRefusal? refused = limiter.TryAdmit("k", budgeted, out _);
        await Assert.That(refused?.Error.Code).IsEqualTo("usage_restoring");
        await Assert.That(refused!.Error.Kind).IsEqualTo(Kheish.Core.Errors.ErrorKind.Unavailable);
        await Assert.That(limiter.TryAdmit("k", new ApiKeyLimits(RateLimit: 10), out _)).IsNull().Because("a key without a budget is not held up");

        book.MarkRestored();
        await Assert.That(limiter.TryAdmit("k", budgeted, out _)).IsNull();
    }

    [Test]
    public async Task A_changed_rate_limit_applies_on_the_next_request()
    {
        var limiter = new KeyLimiter(new UsageBook(new LimitsClock()));
        await Assert.That(limiter.TryAdmit("k", new ApiKeyLimits(RateLimit: 1), out _)).IsNull();
        await Assert.That(limiter.TryAdmit("k", new ApiKeyLimits(RateLimit: 1), out _)).IsNotNull();
        await Assert.That(limiter.TryAdmit("k", new ApiKeyLimits(RateLimit: 3), out _)).IsNull();
    }
}
