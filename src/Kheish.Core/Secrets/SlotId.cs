using System.Text.Json;
using System.Text.Json.Serialization;
using Kheish.Core.Errors;

namespace Kheish.Core.Secrets;

/// <summary>
/// A validated slot id: 1..128 characters from [A-Za-z0-9._:-], no "..", no leading ".".
/// No separators or control characters can reach a path, a header or a terminal through it.
/// Parse once at the edge; everything inside takes a <see cref="SlotId"/>.
/// </summary>
[JsonConverter(typeof(SlotIdJsonConverter))]
internal readonly record struct SlotId
{
    public const int MaxLength = 128;

    private SlotId(string value) => Value = value;

    public string Value { get; }

    public static Result<SlotId> Parse(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return Invalid("a slot id must not be empty");
        }

        if (text.Length > MaxLength)
        {
            return Invalid($"a slot id is at most {MaxLength} characters; this one has {text.Length}");
        }

        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (!IsAllowed(c))
            {
                string what = c switch
                {
                    '/' or '\\' => $"a path separator '{c}'",
                    _ when char.IsControl(c) => $"a control character (U+{(int)c:X4})",
                    _ when char.IsWhiteSpace(c) => $"whitespace (U+{(int)c:X4})",
                    _ when c > '~' => $"a non-ASCII character (U+{(int)c:X4})",
                    _ => $"'{c}'",
                };
                return Invalid($"a slot id may contain only letters, digits, '.', '_', ':' and '-'; found {what} at position {i + 1}");
            }
        }

        if (text[0] == '.')
        {
            return Invalid("a slot id must not start with '.'");
        }

        if (text.Contains("..", StringComparison.Ordinal))
        {
            return Invalid("a slot id must not contain \"..\"");
        }

        return new SlotId(text);
    }

    public override string ToString() => Value;

    private static bool IsAllowed(char c) =>
        char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-';

    private static KheishError Invalid(string message) => KheishError.BadRequest("invalid_slot_id", message);
}

/// <summary>Reads and writes <see cref="SlotId"/> as a JSON string, validating on read.</summary>
internal sealed class SlotIdJsonConverter : JsonConverter<SlotId>
{
    public override SlotId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        Result<SlotId> parsed = SlotId.Parse(reader.TokenType == JsonTokenType.String ? reader.GetString() : null);
        return parsed.IsOk ? parsed.Value : throw new JsonException(parsed.Error.Message);
    }

    public override void Write(Utf8JsonWriter writer, SlotId value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.Value);
}
