using System.Text.Json;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Http;

/// <summary>
/// The one place a <see cref="KheishError"/> becomes an HTTP status and an
/// <c>application/problem+json</c> body <c>{type, title, status, detail, code}</c>. On the
/// agent plane the body also carries the provider-compatible <c>error</c> object
/// (<c>{"message","type","code"}</c>) so OpenAI and Anthropic SDKs show our message.
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
        ErrorKind.MisdirectedRequest => StatusCodes.Status421MisdirectedRequest,
        _ => StatusCodes.Status500InternalServerError,
    };

    public static ProblemDetailsBody Body(KheishError error, string? domain = null, bool agentPlane = false, int? status = null)
    {
        int code = status ?? StatusFor(error.Kind);
        return new(
            Type: "urn:kheish:problem:" + error.Code,
            Title: TitleFor(code),
            Status: code,
            Detail: error.Message,
            Code: error.Code,
            Domain: domain,
            Error: agentPlane ? new ProviderError(error.Message, ProviderTypeFor(code), error.Code) : null);
    }

    /// <summary>An endpoint result; the plane (and so the provider-compatible object) is decided when it is written.</summary>
    public static IResult Result(KheishError error, string? domain = null) => new ProblemResult(error, domain);

    /// <summary>Writes a problem directly (middleware, where there is no endpoint result).</summary>
    public static async Task WriteAsync(HttpContext context, KheishError error, string? domain = null, int? status = null)
    {
        ProblemDetailsBody body = Body(error, domain, Planes.Of(context.Request.Path) == Plane.Agent, status);
        context.Response.StatusCode = body.Status;
        context.Response.ContentType = ContentType;
        await JsonSerializer.SerializeAsync(context.Response.Body, body, HttpJsonContext.Default.ProblemDetailsBody, context.RequestAborted);
    }

    /// <summary>
    /// A framework-produced error without a body (no endpoint: 404, wrong method: 405, wrong
    /// media type: 415...) gets a problem+json body like every other error.
    /// </summary>
    public static Task WriteForBareStatusAsync(HttpContext context)
    {
        int status = context.Response.StatusCode;
        string method = context.Request.Method;
        string path = context.Request.Path.Value ?? "/";
        string shown = path.Length <= 200 ? path : path[..200] + "...";
        KheishError error = status switch
        {
            StatusCodes.Status404NotFound => KheishError.NotFound("no_such_endpoint", $"no endpoint at {method} {shown}; see GET /v1/openapi.json for the list"),
            StatusCodes.Status405MethodNotAllowed => KheishError.BadRequest("method_not_allowed", $"{method} is not allowed on {shown}" +
                (context.Response.Headers.Allow.Count > 0 ? $"; allowed: {context.Response.Headers.Allow}" : "")),
            StatusCodes.Status415UnsupportedMediaType => KheishError.BadRequest("unsupported_content_type",
                $"Content-Type '{Truncate(context.Request.ContentType ?? "")}' is not accepted; send application/json"),
            StatusCodes.Status413PayloadTooLarge => new KheishError("payload_too_large", ErrorKind.PayloadTooLarge, "request body exceeds the size limit"),
            StatusCodes.Status400BadRequest => KheishError.BadRequest("bad_request", "the request could not be read (malformed HTTP or body)"),
            _ => new KheishError("http_" + status, ErrorKind.Misconfigured, $"the request failed with status {status}"),
        };
        return WriteAsync(context, error, status: status);
    }

    private static string Truncate(string s) => s.Length <= 64 ? s : s[..64];

    private static string TitleFor(int status) => status switch
    {
        400 => "Bad request",
        401 => "Authentication required",
        403 => "Forbidden",
        404 => "Not found",
        405 => "Method not allowed",
        409 => "Conflict",
        413 => "Payload too large",
        415 => "Unsupported media type",
        421 => "Misdirected request",
        429 => "Too many requests",
        502 => "Bad gateway",
        503 => "Service unavailable",
        504 => "Gateway timeout",
        500 => "Internal error",
        _ => "Error",
    };

    /// <summary>The <c>error.type</c> vocabulary OpenAI and Anthropic SDKs know.</summary>
    private static string ProviderTypeFor(int status) => status switch
    {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        >= 400 and < 500 => "invalid_request_error",
        503 => "overloaded_error",
        _ => "api_error",
    };

    private sealed class ProblemResult(KheishError error, string? domain) : IResult, IStatusCodeHttpResult
    {
        public int? StatusCode => StatusFor(error.Kind);

        public Task ExecuteAsync(HttpContext httpContext) => WriteAsync(httpContext, error, domain);
    }
}
