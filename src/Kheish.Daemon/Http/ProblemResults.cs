using System.Text.Json;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Http;

/// <summary>
/// The one place a <see cref="KheishError"/> becomes an HTTP status and an
/// <c>application/problem+json</c> body <c>{type, title, status, detail, code}</c>.
/// </summary>
internal static class ProblemResults
{
    public const string ContentType = "application/problem+json";

    public static int StatusFor(ErrorKind kind) => kind switch
    {
        ErrorKind.BadRequest => StatusCodes.Status400BadRequest,
        ErrorKind.Unauthorized => StatusCodes.Status401Unauthorized,
        ErrorKind.Forbidden => StatusCodes.Status403Forbidden,
        ErrorKind.NotFound => StatusCodes.Status404NotFound,
        ErrorKind.Conflict => StatusCodes.Status409Conflict,
        ErrorKind.PayloadTooLarge => StatusCodes.Status413PayloadTooLarge,
        ErrorKind.RateLimited => StatusCodes.Status429TooManyRequests,
        ErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        ErrorKind.Misconfigured => StatusCodes.Status500InternalServerError,
        ErrorKind.Unreachable => StatusCodes.Status502BadGateway,
        ErrorKind.SchemaMismatch => StatusCodes.Status400BadRequest,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static ProblemDetailsBody Body(KheishError error, string? domain = null) => new(
        Type: "urn:kheish:problem:" + error.Code,
        Title: TitleFor(error.Kind),
        Status: StatusFor(error.Kind),
        Detail: error.Message,
        Code: error.Code,
        Domain: domain);

    public static IResult Result(KheishError error, string? domain = null) =>
        TypedResults.Json(Body(error, domain), HttpJsonContext.Default.ProblemDetailsBody, ContentType, StatusFor(error.Kind));

    /// <summary>Writes a problem directly (middleware, where there is no endpoint result).</summary>
    public static async Task WriteAsync(HttpContext context, KheishError error, string? domain = null)
    {
        ProblemDetailsBody body = Body(error, domain);
        context.Response.StatusCode = body.Status;
        context.Response.ContentType = ContentType;
        await JsonSerializer.SerializeAsync(context.Response.Body, body, HttpJsonContext.Default.ProblemDetailsBody, context.RequestAborted);
    }

    private static string TitleFor(ErrorKind kind) => kind switch
    {
        ErrorKind.BadRequest => "Bad request",
        ErrorKind.Unauthorized => "Authentication required",
        ErrorKind.Forbidden => "Forbidden",
        ErrorKind.NotFound => "Not found",
        ErrorKind.Conflict => "Conflict",
        ErrorKind.PayloadTooLarge => "Payload too large",
        ErrorKind.RateLimited => "Too many requests",
        ErrorKind.Unavailable => "Service unavailable",
        _ => "Server misconfigured",
    };
}
