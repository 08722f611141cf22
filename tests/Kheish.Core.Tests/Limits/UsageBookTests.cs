using Kheish.Core.Access;
using Kheish.Core.Limits;

namespace Kheish.Core.Tests.Limits;

public sealed class UsageBookTests
{
    [Test]
    public async Task A_daily_request_budget_refuses_at_the_limit_until_the_next_utc_day()
    {
        var clock = new LimitsClock(new DateTimeOffset(2026, 5, 10, 23, 0, 0, TimeSpan.Zero));
        var book = new UsageBook(clock);
        var budget = new ApiKeyBudget(RequestsPerDay: 2);
        book.CountRequest("k1", "openai", clock.GetUtcNow());
        await Assert.That(book.CheckBudget("k1", budget)).IsNull();
        book.CountRequest("k1", "openai", clock.GetUtcNow());

        LimitRefusal? refused = book.CheckBudget("k1", budget);
        await Assert.That(refused?.Error.Code).IsEqualTo(LimitRefusal.BudgetExhaustedCode);
        await Assert.That(refused!.RetryAfterSeconds).IsEqualTo(3600);

        clock.Advance(TimeSpan.FromHours(1));
        await Assert.That(book.CheckBudget("k1", budget)).IsNull();
    }

    [Test]
    public async Task A_monthly_token_budget_spans_days_and_renews_on_the_first_of_the_month()
    {
        var clock = new LimitsClock(new DateTimeOffset(2026, 2, 27, 12, 0, 0, TimeSpan.Zero));
        var book = new UsageBook(clock);
        var budget = new ApiKeyBudget(TokensPerMonth: 100);
        book.CountTokens("k1", "openai", clock.GetUtcNow(), new TokenUsage(40, 20));
        clock.Advance(TimeSpan.FromDays(1));
        await Assert.That(book.CheckBudget("k1", budget)).IsNull();
        book.CountTokens("k1", "anthropic", clock.GetUtcNow(), new TokenUsage(30, 10));

        LimitRefusal? refused = book.CheckBudget("k1", budget);
        await Assert.That(refused?.Error.Code).IsEqualTo(LimitRefusal.BudgetExhaustedCode);
        // 2026-02-28 12:00 → 2026-03-01 00:00.
        await Assert.That(refused!.RetryAfterSeconds).IsEqualTo(12 * 3600);

        clock.Advance(TimeSpan.FromHours(12));
        await Assert.That(book.CheckBudget("k1", budget)).IsNull();
    }

    [Test]
    public async Task Budgets_are_per_key()
    {
        var clock = new LimitsClock();
        var book = new UsageBook(clock);
        book.CountTokens("k1", "openai", clock.GetUtcNow(), new TokenUsage(50, 50));
        await Assert.That(book.CheckBudget("k1", new ApiKeyBudget(TokensPerDay: 100))).IsNotNull();
        await Assert.That(book.CheckBudget("k2", new ApiKeyBudget(TokensPerDay: 100))).IsNull();
    }

    [Test]
    public async Task Query_filters_by_key_route_and_since()
    {
        var clock = new LimitsClock(new DateTimeOffset(2026, 4, 1, 8, 0, 0, TimeSpan.Zero));
        var book = new UsageBook(clock);
        book.CountRequest("k1", "openai", clock.GetUtcNow());
        book.CountTokens("k1", "openai", clock.GetUtcNow(), new TokenUsage(5, 6));
        clock.Advance(TimeSpan.FromDays(1));
        book.CountRequest("k1", "openai", clock.GetUtcNow());
        book.CountRequest("k2", "mcp", clock.GetUtcNow());

        IReadOnlyList<UsageRow> k1 = book.Query("k1", null, null);
        await Assert.That(k1.Select(r => (r.Day, r.Requests, r.TotalTokens)))
            .IsEquivalentTo([("2026-04-01", 1L, 11L), ("2026-04-02", 1L, 0L)], CollectionOrdering.Matching);
        await Assert.That(book.Query(null, "mcp", null).Select(r => r.KeyId)).IsEquivalentTo(["k2"], CollectionOrdering.Matching);
        await Assert.That(book.Query(null, null, new DateTimeOffset(2026, 4, 2, 0, 0, 0, TimeSpan.Zero)).Count).IsEqualTo(2);
    }

    [Test]
    public async Task Counting_with_the_check_lets_exactly_the_budget_through_from_many_threads()
    {
        var clock = new LimitsClock(new DateTimeOffset(2026, 5, 10, 12, 0, 0, TimeSpan.Zero));
        var book = new UsageBook(clock);
        int counted = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            for (int i = 0; i < 500; i++)
            {
                if (book.TryCountRequest("k1", "openai", clock.GetUtcNow(), 100) is null)
                {
                    Interlocked.Increment(ref counted);
                }
            }
        })));

        await Assert.That(counted).IsEqualTo(100);
        await Assert.That(book.Standing("k1").RequestsToday).IsEqualTo(100);
        await Assert.That(book.Query("k1", null, null).Single().Requests).IsEqualTo(100);
        LimitRefusal? refused = book.TryCountRequest("k1", "openai", clock.GetUtcNow(), 100);
        await Assert.That(refused?.Error.Code).IsEqualTo(LimitRefusal.BudgetExhaustedCode);
        await Assert.That(refused!.RetryAfterSeconds).IsEqualTo(12 * 3600);

        // A call that did not go out gives its request back; without a budget every call counts.
        book.UncountRequest("k1", "openai", clock.GetUtcNow());
        await Assert.That(book.TryCountRequest("k1", "openai", clock.GetUtcNow(), 100)).IsNull();
        await Assert.That(book.TryCountRequest("k2", "openai", clock.GetUtcNow(), null)).IsNull();
        await Assert.That(book.Standing("k2").RequestsToday).IsEqualTo(1);
    }
}
