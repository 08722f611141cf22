using System.Diagnostics;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Toml;

namespace Kheish.Core.Tests.Toml;

public sealed class TomlReaderTests
{
    [Test]
    public async Task Scalars_are_read_as_their_typed_values()
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

        await Assert.That(t["i"]).IsEqualTo(0x7fffL);
        await Assert.That(t["big"]).IsEqualTo(long.MaxValue);
        await Assert.That(t["f"]).IsEqualTo(6.626e-34);
        await Assert.That(t["pinf"]).IsEqualTo(double.PositiveInfinity);
        await Assert.That(double.IsNaN((double)t["nnan"])).IsTrue();
        await Assert.That((bool)t["b"]).IsTrue();
        var odt = (await Assert.That(t["odt"]).IsTypeOf<TomlOffsetDateTime>())!;
        await Assert.That(odt.ToDateTimeOffset()).IsEqualTo(new DateTimeOffset(1979, 5, 27, 7, 32, 0, 999, TimeSpan.FromHours(-7)).AddTicks(9990));
        await Assert.That((await Assert.That(t["ldt"]).IsTypeOf<TomlLocalDateTime>())!.ToDateTime()).IsEqualTo(new DateTime(1979, 5, 27, 7, 32, 0));
        await Assert.That((await Assert.That(t["ld"]).IsTypeOf<TomlLocalDate>())!.ToDateOnly()).IsEqualTo(new DateOnly(1979, 5, 27));
        await Assert.That((await Assert.That(t["lt"]).IsTypeOf<TomlLocalTime>())!.ToTimeOnly()).IsEqualTo(new TimeOnly(0, 32, 0, 500));
    }

    [Test]
    public async Task Tables_keep_their_keys_in_document_order()
    {
        TomlTable t = TomlReader.Parse("z = 1\na = 2\nm = 3\n");

        await Assert.That(t.Keys).IsEquivalentTo(["z", "a", "m"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Arrays_of_tables_and_dotted_keys_build_nested_tables()
    {
        TomlTable t = TomlReader.Parse("""
            [[fruit]]
            name = "apple"
            physical.color = "red"
            [[fruit]]
            name = "banana"
            """);

        var fruit = (await Assert.That(t["fruit"]).IsTypeOf<TomlArray>())!;
        await Assert.That(fruit.Count).IsEqualTo(2);
        var apple = (await Assert.That(fruit[0]).IsTypeOf<TomlTable>())!;
        await Assert.That((await Assert.That(apple["physical"]).IsTypeOf<TomlTable>())!["color"]).IsEqualTo("red");
        await Assert.That((await Assert.That(fruit[1]).IsTypeOf<TomlTable>())!["name"]).IsEqualTo("banana");
    }

    [Test]
    [Arguments("[a]\nx = 1\n[a]\n", 3)]
    [Arguments("a = {x = 1}\n[a]\n", 2)]
    [Arguments("[a]\nb.c = 1\n[a.b]\n", 3)]
    [Arguments("a = [1]\n[[a]]\n", 2)]
    [Arguments("a = 1\na = 2\n", 2)]
    [Arguments("a = {b = 1}\na.c = 2\n", 2)]
    public async Task Redefinitions_are_rejected_at_their_line(string toml, int line)
    {
        await Assert.That(TomlReader.TryParse(toml, out _, out TomlError? error)).IsFalse();
        await Assert.That(error!.Line).IsEqualTo(line);
    }

    [Test]
    public async Task A_syntax_error_names_line_column_and_reason()
    {
        await Assert.That(TomlReader.TryParse("a = 1\nb = 1979-13-01\n", out _, out TomlError? error)).IsFalse();

        await Assert.That(error!.Line).IsEqualTo(2);
        await Assert.That(error.Column).IsEqualTo(5);
        await Assert.That(error.Reason).IsEqualTo("date out of range");
    }

    [Test]
    [Arguments("key = \"sk-canary-1234567890\n")]
    [Arguments("key = 'sk-canary-1234567890\n")]
    [Arguments("key = \"sk-canary-1234567890\\q\"\n")]
    [Arguments("sk-canary-1234567890 = \n")]
    [Arguments("key = sk-canary-1234567890\n")]
    [Arguments("[sk-canary-1234567890\n")]
    [Arguments("key = \"\"\"sk-canary-1234567890")]
    public async Task Error_messages_never_quote_the_source(string toml)
    {
        Kheish.Core.Errors.Result<TomlTable> result = TomlReader.Read(toml, "routes.toml");

        await Assert.That(result.IsOk).IsFalse();
        await Assert.That(result.Error!.Message).DoesNotContain("canary");
        await Assert.That(result.Error.Message).Contains("line 1");
    }

    [Test]
    public async Task A_ten_thousand_deep_array_is_a_clean_error()
    {
        string toml = "a = " + new string('[', 10_000) + new string(']', 10_000) + "\n";

        await Assert.That(TomlReader.TryParse(toml, out _, out TomlError? error)).IsFalse();
        await Assert.That(error!.Reason).Contains("nested deeper than 128");
    }

    [Test]
    public async Task A_ten_thousand_deep_inline_table_is_a_clean_error()
    {
        var sb = new StringBuilder("a = ");
        for (int i = 0; i < 10_000; i++)
        {
            sb.Append("{b = ");
        }

        await Assert.That(TomlReader.TryParse(sb.ToString(), out _, out TomlError? error)).IsFalse();
        await Assert.That(error!.Reason).Contains("nested deeper");
    }

    [Test]
    public async Task A_header_ten_thousand_tables_deep_is_a_clean_error()
    {
        string toml = "[" + string.Join('.', Enumerable.Repeat("a", 10_000)) + "]\n";

        await Assert.That(TomlReader.TryParse(toml, out _, out TomlError? error)).IsFalse();
        await Assert.That(error!.Reason).Contains("nested deeper");
    }

    [Test]
    public async Task Nesting_up_to_the_limit_is_accepted()
    {
        string toml = "a = " + new string('[', TomlReader.MaxDepth - 1) + new string(']', TomlReader.MaxDepth - 1) + "\n";

        await Assert.That(TomlReader.TryParse(toml, out _, out TomlError? error)).IsTrue();
    }

    [Test]
    public async Task Parsing_time_grows_linearly_with_input_size()
    {
        string one = Generate(1 << 20);
        string four = Generate(4 << 20);
        TomlReader.Parse(one); // warm up

        double t1 = Time(() => TomlReader.Parse(one));
        double t4 = Time(() => TomlReader.Parse(four));

        // Quadratic behaviour would make the 4x input ~16x slower; allow generous noise on a shared machine.
        await Assert.That(t4 < t1 * 10).IsTrue().Because($"1 MiB: {t1:F1} ms, 4 MiB: {t4:F1} ms");
    }

    [Test]
    public async Task Huge_single_values_parse_in_bounded_time()
    {
        string toml = "s = \"" + new string('x', 1 << 20) + "\"\na = [" + string.Join(',', Enumerable.Repeat("1", 200_000)) + "]\n";

        TomlTable t = TomlReader.Parse(toml);

        await Assert.That(((string)t["s"]).Length).IsEqualTo(1 << 20);
        await Assert.That(((TomlArray)t["a"]).Count).IsEqualTo(200_000);
    }

    [Test]
    public async Task Invalid_utf8_is_rejected_with_its_position()
    {
        byte[] bytes = [.. "a = 1\nb = \""u8, 0xC3, 0x28, .. "\"\n"u8];

        await Assert.That(TomlReader.TryParse(bytes, out _, out TomlError? error)).IsFalse();
        await Assert.That(error!.Line).IsEqualTo(2);
        await Assert.That(error.Reason).IsEqualTo("invalid UTF-8");
    }

    [Test]
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

    [Test]
    public void Any_long_reads_back_unchanged()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<long>(), n =>
            (long)TomlReader.Parse("n = " + n.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n")["n"] == n)
            .QuickCheckThrowOnFailure();
    }

    [Test]
    public async Task Tagged_json_comparison_detects_a_wrong_value()
    {
        using var want = System.Text.Json.JsonDocument.Parse("""{"a":{"type":"integer","value":"1"}}""");
        using var have = System.Text.Json.JsonDocument.Parse(TomlTaggedJson.ToJson(TomlReader.Parse("a = 2")));

        await Assert.That(TaggedJson.Difference(want.RootElement, have.RootElement, "$")).IsNotNull();
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
