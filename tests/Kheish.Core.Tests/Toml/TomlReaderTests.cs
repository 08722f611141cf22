using System.Diagnostics;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Toml;

namespace Kheish.Core.Tests.Toml;

public sealed class TomlReaderTests
{
    [Fact]
    public void Scalars_are_read_as_their_typed_values()
    {
        TomlTable t = TomlReader.Parse("""
            i = 0x7f_ff
            big = 9_223_372_036_854_775_807
            f = 6.626e-34
            pinf = +inf
            nnan = -nan
            b = true
            odt = 1979-05-27 07:32:00.999999-07:00
            ldt = 1979-05-27T07:32:00
            ld = 1979-05-27
            lt = 00:32:00.5
            """);

        Assert.Equal(0x7fffL, t["i"]);
        Assert.Equal(long.MaxValue, t["big"]);
        Assert.Equal(6.626e-34, t["f"]);
        Assert.Equal(double.PositiveInfinity, t["pinf"]);
        Assert.True(double.IsNaN((double)t["nnan"]));
        Assert.Equal(true, t["b"]);
        var odt = Assert.IsType<TomlOffsetDateTime>(t["odt"]);
        Assert.Equal(new DateTimeOffset(1979, 5, 27, 7, 32, 0, 999, TimeSpan.FromHours(-7)).AddTicks(9990), odt.ToDateTimeOffset());
        Assert.Equal(new DateTime(1979, 5, 27, 7, 32, 0), Assert.IsType<TomlLocalDateTime>(t["ldt"]).ToDateTime());
        Assert.Equal(new DateOnly(1979, 5, 27), Assert.IsType<TomlLocalDate>(t["ld"]).ToDateOnly());
        Assert.Equal(new TimeOnly(0, 32, 0, 500), Assert.IsType<TomlLocalTime>(t["lt"]).ToTimeOnly());
    }

    [Fact]
    public void Tables_keep_their_keys_in_document_order()
    {
        TomlTable t = TomlReader.Parse("z = 1\na = 2\nm = 3\n");

        Assert.Equal(["z", "a", "m"], t.Keys);
    }

    [Fact]
    public void Arrays_of_tables_and_dotted_keys_build_nested_tables()
    {
        TomlTable t = TomlReader.Parse("""
            [[fruit]]
            name = "apple"
            physical.color = "red"
            [[fruit]]
            name = "banana"
            """);

        var fruit = Assert.IsType<TomlArray>(t["fruit"]);
        Assert.Equal(2, fruit.Count);
        var apple = Assert.IsType<TomlTable>(fruit[0]);
        Assert.Equal("red", Assert.IsType<TomlTable>(apple["physical"])["color"]);
        Assert.Equal("banana", Assert.IsType<TomlTable>(fruit[1])["name"]);
    }

    [Theory]
    [InlineData("[a]\nx = 1\n[a]\n", 3)]
    [InlineData("a = {x = 1}\n[a]\n", 2)]
    [InlineData("[a]\nb.c = 1\n[a.b]\n", 3)]
    [InlineData("a = [1]\n[[a]]\n", 2)]
    [InlineData("a = 1\na = 2\n", 2)]
    [InlineData("a = {b = 1}\na.c = 2\n", 2)]
    public void Redefinitions_are_rejected_at_their_line(string toml, int line)
    {
        Assert.False(TomlReader.TryParse(toml, out _, out TomlError? error));
        Assert.Equal(line, error.Line);
    }

    [Fact]
    public void A_syntax_error_names_line_column_and_reason()
    {
        Assert.False(TomlReader.TryParse("a = 1\nb = 1979-13-01\n", out _, out TomlError? error));

        Assert.Equal(2, error.Line);
        Assert.Equal(5, error.Column);
        Assert.Equal("date out of range", error.Reason);
    }

    [Theory]
    [InlineData("key = \"sk-canary-1234567890\n")]
    [InlineData("key = 'sk-canary-1234567890\n")]
    [InlineData("key = \"sk-canary-1234567890\\q\"\n")]
    [InlineData("sk-canary-1234567890 = \n")]
    [InlineData("key = sk-canary-1234567890\n")]
    [InlineData("[sk-canary-1234567890\n")]
    [InlineData("key = \"\"\"sk-canary-1234567890")]
    public void Error_messages_never_quote_the_source(string toml)
    {
        Kheish.Core.Errors.Result<TomlTable> result = TomlReader.Read(toml, "routes.toml");

        Assert.False(result.IsOk);
        Assert.DoesNotContain("canary", result.Error.Message, StringComparison.Ordinal);
        Assert.Contains("line 1", result.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_ten_thousand_deep_array_is_a_clean_error()
    {
        string toml = "a = " + new string('[', 10_000) + new string(']', 10_000) + "\n";

        Assert.False(TomlReader.TryParse(toml, out _, out TomlError? error));
        Assert.Contains("nested deeper than 128", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_ten_thousand_deep_inline_table_is_a_clean_error()
    {
        var sb = new StringBuilder("a = ");
        for (int i = 0; i < 10_000; i++)
        {
            sb.Append("{b = ");
        }

        Assert.False(TomlReader.TryParse(sb.ToString(), out _, out TomlError? error));
        Assert.Contains("nested deeper", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_header_ten_thousand_tables_deep_is_a_clean_error()
    {
        string toml = "[" + string.Join('.', Enumerable.Repeat("a", 10_000)) + "]\n";

        Assert.False(TomlReader.TryParse(toml, out _, out TomlError? error));
        Assert.Contains("nested deeper", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Nesting_up_to_the_limit_is_accepted()
    {
        string toml = "a = " + new string('[', TomlReader.MaxDepth - 1) + new string(']', TomlReader.MaxDepth - 1) + "\n";

        Assert.True(TomlReader.TryParse(toml, out _, out TomlError? error), error?.ToString());
    }

    [Fact]
    public void Parsing_time_grows_linearly_with_input_size()
    {
        string one = Generate(1 << 20);
        string four = Generate(4 << 20);
        TomlReader.Parse(one); // warm up

        double t1 = Time(() => TomlReader.Parse(one));
        double t4 = Time(() => TomlReader.Parse(four));

        // Quadratic behaviour would make the 4x input ~16x slower; allow generous noise on a shared machine.
        Assert.True(t4 < t1 * 10, $"1 MiB: {t1:F1} ms, 4 MiB: {t4:F1} ms");
    }

    [Fact]
    public void Huge_single_values_parse_in_bounded_time()
    {
        string toml = "s = \"" + new string('x', 1 << 20) + "\"\na = [" + string.Join(',', Enumerable.Repeat("1", 200_000)) + "]\n";

        TomlTable t = TomlReader.Parse(toml);

        Assert.Equal(1 << 20, ((string)t["s"]).Length);
        Assert.Equal(200_000, ((TomlArray)t["a"]).Count);
    }

    [Fact]
    public void Invalid_utf8_is_rejected_with_its_position()
    {
        byte[] bytes = [.. "a = 1\nb = \""u8, 0xC3, 0x28, .. "\"\n"u8];

        Assert.False(TomlReader.TryParse(bytes, out _, out TomlError? error));
        Assert.Equal(2, error.Line);
        Assert.Equal("invalid UTF-8", error.Reason);
    }

    [Fact]
    public void Any_string_written_with_escapes_reads_back_unchanged()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<string>(), s =>
        {
            s ??= string.Empty;
            if (TomlReaderTestsHelpers.HasLoneSurrogate(s))
            {
                return true;
            }

            TomlTable t = TomlReader.Parse("k = \"" + TomlReaderTestsHelpers.Escape(s) + "\"\n");
            return (string)t["k"] == s;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Any_long_reads_back_unchanged()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<long>(), n =>
            (long)TomlReader.Parse("n = " + n.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n")["n"] == n)
            .QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Tagged_json_comparison_detects_a_wrong_value()
    {
        using var want = System.Text.Json.JsonDocument.Parse("""{"a":{"type":"integer","value":"1"}}""");
        using var have = System.Text.Json.JsonDocument.Parse(TomlTaggedJson.ToJson(TomlReader.Parse("a = 2")));

        Assert.NotNull(TaggedJson.Difference(want.RootElement, have.RootElement, "$"));
    }

    internal static string Generate(int bytes)
    {
        var sb = new StringBuilder(bytes + 1024);
        int i = 0;
        while (sb.Length < bytes)
        {
            sb.Append("[section_").Append(i).Append("]\nname = \"value number ").Append(i).Append("\"\ncount = ").Append(i)
              .Append("\nratio = ").Append(i).Append(".5\nlist = [1, 2, 3, \"four\", 5.0]\ninline = { a = 1, b = \"two\" }\n\n");
            i++;
        }

        return sb.ToString();
    }

    private static double Time(Action action)
    {
        var best = double.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
        }

        return best;
    }
}

internal static class TomlReaderTestsHelpers
{
    public static bool HasLoneSurrogate(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(s[i]))
            {
                return true;
            }
        }

        return false;
    }

    public static string Escape(string s)
    {
        var sb = new StringBuilder();
        foreach (char c in s)
        {
            if (c is '"' or '\\' || char.IsControl(c))
            {
                sb.Append("\\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }
}
