namespace Kheish.Core.Limits;

/// <summary>UTC calendar windows of a budget: a day number since the epoch, a month number, and when each ends.</summary>
internal static class BudgetWindow
{
    public static int Day(DateTimeOffset at) => (int)(at.UtcTicks / TimeSpan.TicksPerDay - (DateTimeOffset.UnixEpoch.UtcTicks / TimeSpan.TicksPerDay));

    public static int Month(DateTimeOffset at)
    {
        DateTimeOffset utc = at.ToUniversalTime();
        return (utc.Year * 12) + utc.Month - 1;
    }

    public static int MonthOfDay(int day) => Month(StartOfDay(day));

    public static DateTimeOffset StartOfDay(int day) => DateTimeOffset.UnixEpoch.AddDays(day);

    public static DateTimeOffset StartOfMonth(DateTimeOffset at)
    {
        DateTimeOffset utc = at.ToUniversalTime();
        return new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero);
    }

    /// <summary>Time left until the next UTC midnight (at least one second).</summary>
    public static TimeSpan UntilNextDay(DateTimeOffset now) => AtLeastASecond(StartOfDay(Day(now) + 1) - now);

    /// <summary>Time left until the first of the next UTC month (at least one second).</summary>
    public static TimeSpan UntilNextMonth(DateTimeOffset now) => AtLeastASecond(StartOfMonth(now).AddMonths(1) - now);

    private static TimeSpan AtLeastASecond(TimeSpan t) => t < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : t;
}
