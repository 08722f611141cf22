namespace Kheish.Core.Toml;

/// <summary>A TOML local date-time (<c>1979-05-27T07:32:00</c>): no offset.</summary>
internal readonly record struct TomlLocalDateTime(TomlLocalDate Date, TomlLocalTime Time)
{
    public DateTime ToDateTime() => Date.ToDateOnly().ToDateTime(Time.ToTimeOnly(), DateTimeKind.Unspecified);

    public override string ToString() => Date + "T" + Time;
}
