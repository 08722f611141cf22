using Kheish.Core.Errors;

namespace Kheish.Daemon.Cli;

/// <summary>Process exit codes (Kheish reference §6). The only place errors become numbers.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int HealthError = 1;
    public const int BadRequest = 2;
    public const int Unreachable = 3;
    public const int Auth = 4;
    public const int NotFound = 5;
    public const int Conflict = 6;
    public const int Retryable = 7;
    public const int SchemaMismatch = 8;

    public static int For(ErrorKind kind) => kind switch
    {
        ErrorKind.BadRequest or ErrorKind.PayloadTooLarge => BadRequest,
        ErrorKind.Unauthorized or ErrorKind.Forbidden => Auth,
        ErrorKind.NotFound => NotFound,
        ErrorKind.Conflict => Conflict,
        ErrorKind.RateLimited => Retryable,
        ErrorKind.Unavailable => Retryable,
        ErrorKind.Misconfigured => HealthError,
        ErrorKind.SchemaMismatch => SchemaMismatch,
        ErrorKind.Unreachable => Unreachable,
        _ => HealthError,
    };
}
