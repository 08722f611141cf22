using System.Globalization;

namespace Kheish.Core.Toml;

/// <summary>
/// A TOML local time (<c>07:32:00.999</c>). Fractions are kept to the nanosecond; finer digits
/// are truncated, as the TOML spec asks. <see cref="Second"/> may be 60 (a leap second).
/// </summary>
internal readonly record struct TomlLocalTime(int Hour, int Minute, int Second, int Nanosecond)
{
    /// <summary>The time of day; a leap second becomes the last tick of its minute.</summary>
    public TimeOnly ToTimeOnly() => Second == 60
        ? new TimeOnly(Hour, Minute, 59).Add(TimeSpan.FromTicks(TimeSpan.TicksPerSecond - 1))
        : new TimeOnly(Hour, Minute, Second).Add(TimeSpan.FromTicks(Nanosecond / 100));

    /// <summary>RFC 3339 partial-time, fraction without trailing zeros.</summary>
    public override string ToString()
    {
        string hms = string.Create(CultureInfo.InvariantCulture, $"{Hour:D2}:{Minute:D2}:{Second:D2}");
        if (Nanosecond == 0)
        {
            return hms;
        }

        return hms + "." + Nanosecond.ToString("D9", CultureInfo.InvariantCulture).TrimEnd('0');
    }
}
