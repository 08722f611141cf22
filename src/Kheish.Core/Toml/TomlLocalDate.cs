using System.Globalization;

namespace Kheish.Core.Toml;

/// <summary>A TOML local date (<c>1979-05-27</c>): no time, no offset.</summary>
internal readonly record struct TomlLocalDate(int Year, int Month, int Day)
{
    public DateOnly ToDateOnly() => new(Year, Month, Day);

    /// <summary>RFC 3339 full-date.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Year:D4}-{Month:D2}-{Day:D2}");

    internal static bool IsValid(int year, int month, int day) =>
        month is >= 1 and <= 12 && day >= 1 && day <= DaysInMonth(year, month);

    private static int DaysInMonth(int year, int month) => month switch
    {
        2 => (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28,
        4 or 6 or 9 or 11 => 30,
        _ => 31,
    };
}
