using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Http;

/// <summary>
/// Reads a JSON request body with the source-generated context. Malformed JSON, unknown
/// fields, a wrong content type and oversized bodies each get their own stable code, and
/// the message names the offending field (never its value).
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

        try
        {
            T? value = await JsonSerializer.DeserializeAsync(request.Body, typeInfo, request.HttpContext.RequestAborted);
            return value is null
                ? KheishError.BadRequest("invalid_body", "the request body must be a JSON object")
                : value;
        }
        catch (JsonException ex)
        {
            string where = string.IsNullOrEmpty(ex.Path) || ex.Path == "$" ? "" : $" at {ex.Path}";
            // JsonException messages from the source generator name the member for unknown
            // fields and required properties; they quote property names, never values.
            string reason = ex.Message.Contains("could not be mapped", StringComparison.Ordinal)
                ? "unknown field" + where
                : ex.Message.Contains("missing required properties", StringComparison.Ordinal)
                    ? "missing required field" + where
                    : "malformed JSON" + where + (ex.LineNumber is { } l ? $" (line {l + 1}, byte {ex.BytePositionInLine + 1})" : "");
            return KheishError.BadRequest("invalid_body", reason);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return new KheishError("payload_too_large", ErrorKind.PayloadTooLarge, "request body exceeds the size limit");
        }
    }

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64];
}
