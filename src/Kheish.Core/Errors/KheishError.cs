namespace Kheish.Core.Errors;

/// <summary>
/// The class of an expected failure. One place maps it to an HTTP status
/// (Http/ProblemResults) and one to a CLI exit code (Cli/ExitCodes); nothing ever
/// chooses a status by reading the message text.
/// </summary>
internal enum ErrorKind
{
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    RateLimited,
    /// <summary>A dependency (audit, store, upstream) is not available right now.</summary>
    Unavailable,
    /// <summary>State on disk or configuration is unusable; the operator must fix a file.</summary>
    Misconfigured,
    /// <summary>A file or message has a version or shape this build does not read.</summary>
    SchemaMismatch,
    /// <summary>The daemon a client command talks to could not be reached.</summary>
    Unreachable,
    /// <summary>The request named a host this daemon does not answer to (HTTP 421; DNS rebinding guard).</summary>
    MisdirectedRequest,
}

/// <summary>
/// An expected failure with a stable machine-readable <see cref="Code"/> and a message
/// written for a human. Messages never contain secret values.
/// </summary>
internal sealed record KheishError(string Code, ErrorKind Kind, string Message)
{
    public static KheishError BadRequest(string code, string message) => new(code, ErrorKind.BadRequest, message);
    public static KheishError NotFound(string code, string message) => new(code, ErrorKind.NotFound, message);
    public static KheishError Conflict(string code, string message) => new(code, ErrorKind.Conflict, message);
    public static KheishError Unavailable(string code, string message) => new(code, ErrorKind.Unavailable, message);
    public static KheishError Misconfigured(string code, string message) => new(code, ErrorKind.Misconfigured, message);
    public static KheishError Forbidden(string code, string message) => new(code, ErrorKind.Forbidden, message);
    public static KheishError Unauthorized(string code, string message) => new(code, ErrorKind.Unauthorized, message);
}

/// <summary>
/// Carries a <see cref="KheishError"/> through layers where a Result would be noise
/// (deep inside parsers and file loaders). Edges catch it and map the error like any other.
/// </summary>
internal sealed class KheishException(KheishError error) : Exception(error.Message)
{
    public KheishError Error { get; } = error;
}
