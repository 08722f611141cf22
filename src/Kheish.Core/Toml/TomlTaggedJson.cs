using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Kheish.Core.Toml;

/// <summary>
/// Writes a document in toml-test's type-tagged JSON (every scalar is
/// <c>{"type": ..., "value": "..."}</c>), the decoder interface of the conformance suite.
/// </summary>
internal static class TomlTaggedJson
{
    private static readonly JsonWriterOptions Options = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        // Depth is already bounded by TomlReader.MaxDepth; each TOML level costs at most two JSON levels.
        MaxDepth = (TomlReader.MaxDepth * 2) + 8,
    };

    public static void Write(TomlTable document, Stream output)
    {
        using var writer = new Utf8JsonWriter(output, Options);
        WriteTable(writer, document);
        writer.Flush();
    }

    public static string ToJson(TomlTable document)
    {
        using var stream = new MemoryStream();
        Write(document, stream);
        return System.Text.Encoding.UTF8.GetString(stream.GetBuffer(), 0, (int)stream.Length);
    }

    private static void WriteTable(Utf8JsonWriter writer, TomlTable table)
    {
        writer.WriteStartObject();
        foreach (KeyValuePair<string, object> entry in table)
        {
            writer.WritePropertyName(entry.Key);
            WriteValue(writer, entry.Value);
        }

        writer.WriteEndObject();
    }

    private static void WriteValue(Utf8JsonWriter writer, object value)
    {
        switch (value)
        {
            case TomlTable table:
                WriteTable(writer, table);
                return;
            case TomlArray array:
                writer.WriteStartArray();
                foreach (object item in array)
                {
                    WriteValue(writer, item);
                }

                writer.WriteEndArray();
                return;
            case string s:
                WriteTagged(writer, "string", s);
                return;
            case long l:
                WriteTagged(writer, "integer", l.ToString(CultureInfo.InvariantCulture));
                return;
            case double d:
                WriteTagged(writer, "float", FormatFloat(d));
                return;
            case bool b:
                WriteTagged(writer, "bool", b ? "true" : "false");
                return;
            case TomlOffsetDateTime odt:
                WriteTagged(writer, "datetime", odt.ToString());
                return;
            case TomlLocalDateTime ldt:
                WriteTagged(writer, "datetime-local", ldt.ToString());
                return;
            case TomlLocalDate date:
                WriteTagged(writer, "date-local", date.ToString());
                return;
            case TomlLocalTime time:
                WriteTagged(writer, "time-local", time.ToString());
                return;
            default:
                throw new InvalidOperationException("not a TOML value: " + value.GetType().Name);
        }
    }

    private static void WriteTagged(Utf8JsonWriter writer, string type, string value)
    {
        writer.WriteStartObject();
        writer.WriteString("type", type);
        writer.WriteString("value", value);
        writer.WriteEndObject();
    }

    /// <summary>TOML spellings for the special values; round-trip digits otherwise.</summary>
    public static string FormatFloat(double d) => d switch
    {
        double.PositiveInfinity => "inf",
        double.NegativeInfinity => "-inf",
        _ when double.IsNaN(d) => "nan",
        _ => d.ToString("R", CultureInfo.InvariantCulture),
    };
}
