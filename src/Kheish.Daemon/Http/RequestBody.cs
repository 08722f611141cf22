using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Http;

/// <summary>
/// Reads a JSON request body with the source-generated context — the one mapping every
/// endpoint uses. A wrong content type, an empty body, malformed JSON, an unknown field (with
/// the fields that are expected), a missing field and a wrong value type each get a message
/// naming what is wrong in plain words (never a value, never a .NET type or exception name).
/// </summary>
internal static class RequestBody
{
    public static async Task<Result<T>> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> typeInfo)
        where T : class
    {
        if (request.ContentType is { } ct && !ct.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return KheishError.BadRequest("unsupported_content_type", $"expected Content-Type application/json, got '{Truncate(ct)}'");
        }

        byte[] bytes;
        try
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer, request.HttpContext.RequestAborted);
            bytes = buffer.ToArray();
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return new KheishError("payload_too_large", ErrorKind.PayloadTooLarge, "request body exceeds the size limit");
        }

        return Parse(bytes, typeInfo);
    }

    /// <summary>The body's bytes against the type, with the precise error when they do not fit.</summary>
    public static Result<T> Parse<T>(ReadOnlySpan<byte> bytes, JsonTypeInfo<T> typeInfo)
        where T : class
    {
        if (IsBlank(bytes))
        {
            return KheishError.BadRequest("empty_body", $"the request body is empty; expected a JSON object with {Describe(typeInfo)}");
        }

        try
        {
            T? value = JsonSerializer.Deserialize(bytes, typeInfo);
            return value is null
                ? KheishError.BadRequest("invalid_body", $"the request body must be a JSON object with {Describe(typeInfo)}, not null")
                : value;
        }
        catch (JsonException ex)
        {
            return KheishError.BadRequest("invalid_body", Explain(bytes, typeInfo, ex));
        }
    }

    private static string Explain(ReadOnlySpan<byte> bytes, JsonTypeInfo typeInfo, JsonException ex)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes.ToArray());
        }
        catch (JsonException syntax)
        {
            return "malformed JSON" + (syntax.LineNumber is { } l ? $" at line {l + 1}, byte {syntax.BytePositionInLine + 1}" : "");
        }

        using (doc)
        {
            return ExplainValue(doc.RootElement, typeInfo, "$") ?? $"the value at {ex.Path ?? "$"} does not fit the expected shape";
        }
    }

    /// <summary>The first problem found in <paramref name="value"/> against the type, or null.</summary>
    private static string? ExplainValue(JsonElement value, JsonTypeInfo typeInfo, string path)
    {
        if (typeInfo.Kind != JsonTypeInfoKind.Object)
        {
            return null;
        }

        string where = path == "$" ? "the request body" : $"`{Field(path)}`";
        if (value.ValueKind != JsonValueKind.Object)
        {
            return $"{where} must be a JSON object with {Describe(typeInfo)}";
        }

        var byName = typeInfo.Properties.ToDictionary(p => p.Name, StringComparer.Ordinal);
        foreach (JsonProperty member in value.EnumerateObject())
        {
            string memberPath = $"{path}.{member.Name}";
            if (!byName.TryGetValue(member.Name, out JsonPropertyInfo? property))
            {
                string unknown = Printable(member.Name);
                return $"unknown field `{(path == "$" ? unknown : Field(path) + "." + unknown)}` (expected: {Describe(typeInfo)})";
            }

            if (!Fits(member.Value, property.PropertyType))
            {
                return $"`{Field(memberPath)}` must be {Expected(property.PropertyType)}";
            }

            if (member.Value.ValueKind == JsonValueKind.Object
                && typeInfo.Options.TryGetTypeInfo(property.PropertyType, out JsonTypeInfo? nested)
                && ExplainValue(member.Value, nested, memberPath) is { } inner)
            {
                return inner;
            }
        }

        foreach (JsonPropertyInfo property in typeInfo.Properties)
        {
            if (property.IsRequired && !value.TryGetProperty(property.Name, out _))
            {
                return $"missing required field `{(path == "$" ? property.Name : Field(path) + "." + property.Name)}`";
            }
        }

        return null;
    }

    private static bool Fits(JsonElement value, Type type)
    {
        Type t = Nullable.GetUnderlyingType(type) ?? type;
        if (value.ValueKind == JsonValueKind.Null)
        {
            return !t.IsValueType || Nullable.GetUnderlyingType(type) is not null;
        }

        if (t == typeof(string))
        {
            return value.ValueKind == JsonValueKind.String;
        }

        if (t == typeof(bool))
        {
            return value.ValueKind is JsonValueKind.True or JsonValueKind.False;
        }

        if (t == typeof(int) || t == typeof(long))
        {
            return value.ValueKind == JsonValueKind.Number && (t == typeof(int) ? value.TryGetInt32(out _) : value.TryGetInt64(out _));
        }

        if (ElementOf(t) is { } element)
        {
            return value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(e => Fits(e, element));
        }

        return true;
    }

    private static string Expected(Type type)
    {
        Type t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(string))
        {
            return "a string";
        }

        if (t == typeof(bool))
        {
            return "true or false";
        }

        if (t == typeof(int))
        {
            return "an integer between -2147483648 and 2147483647";
        }

        if (t == typeof(long))
        {
            return "an integer";
        }

        if (ElementOf(t) is { } element)
        {
            return element == typeof(string) ? "an array of strings" : "an array";
        }

        return "a JSON object";
    }

    private static Type? ElementOf(Type t)
    {
        if (t.IsArray)
        {
            return t.GetElementType();
        }

        if (t.IsGenericType && t.GetGenericArguments() is [Type arg]
            && t.GetGenericTypeDefinition() is { } def
            && (def == typeof(IReadOnlyList<>) || def == typeof(List<>) || def == typeof(IList<>) || def == typeof(IEnumerable<>)
                || def == typeof(IReadOnlyCollection<>) || def == typeof(ICollection<>)))
        {
            return arg;
        }

        return null;
    }

    private static string Describe(JsonTypeInfo typeInfo) =>
        typeInfo.Kind == JsonTypeInfoKind.Object && typeInfo.Properties.Count > 0
            ? string.Join(", ", typeInfo.Properties.Select(p => $"`{p.Name}`"))
            : "no fields";

    private static string Field(string path) => path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;

    private static bool IsBlank(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }

        return true;
    }

    private static string Printable(string s)
    {
        string cut = s.Length <= 64 ? s : s[..64] + "...";
        return string.Concat(cut.Select(c => char.IsControl(c) || c == '`' ? '?' : c));
    }

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64];
}
