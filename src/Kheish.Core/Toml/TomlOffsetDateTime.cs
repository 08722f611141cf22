using System.Globalization;

namespace Kheish.Core.Toml;

/// <summary>A TOML offset date-time (<c>1979-05-27T07:32:00-07:00</c>).</summary>
internal readonly record struct TomlOffsetDateTime(TomlLocalDate Date, TomlLocalTime Time, int OffsetMinutes)
{
    public DateTimeOffset ToDateTimeOffset() =>
        new(new TomlLocalDateTime(Date, Time).ToDateTime(), TimeSpan.FromMinutes(OffsetMinutes));

    /// <summary>RFC 3339 date-time; a zero offset is written <c>Z</c>.</summary>
    public override string ToString()
    {
        if (OffsetMinutes == 0)
        {
            return Date + "T" + Time + "Z";
        }

        int abs = Math.Abs(OffsetMinutes);
        return Date + "T" + Time + string.Create(
            CultureInfo.InvariantCulture,
            $"{(OffsetMinutes < 0 ? '-' : '+')}{abs / 60:D2}:{abs % 60:D2}");
    }
}
