using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;

namespace Kheish.Core.Policy;

/// <summary>
/// The digest an approval is bound to: lowercase hex SHA-256 of the tool arguments as canonical
/// JSON — object members sorted by name (ordinal), no whitespace, strings and numbers as
/// System.Text.Json writes them. Absent arguments digest as <c>{}</c>. The same arguments in any
/// member order give the same digest; any changed value gives another.
/// </summary>
internal static class ArgumentsDigest
{
    public static string Of(IEnumerable<KeyValuePair<string, JsonElement>>? arguments) =>
        Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Canonical(arguments))));

    public static string Canonical(IEnumerable<KeyValuePair<string, JsonElement>>? arguments)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var (name, value) in (arguments ?? []).OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                w.WritePropertyName(name);
                Write(w, value);
            }

            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void Write(Utf8JsonWriter w, JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                w.WriteStartObject();
                foreach (JsonProperty p in e.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal))
                {
                    w.WritePropertyName(p.Name);
                    Write(w, p.Value);
                }

                w.WriteEndObject();
                break;
            case JsonValueKind.Array:
                w.WriteStartArray();
                foreach (JsonElement item in e.EnumerateArray())
                {
                    Write(w, item);
                }

                w.WriteEndArray();
                break;
            default:
                e.WriteTo(w);
                break;
        }
    }
}
