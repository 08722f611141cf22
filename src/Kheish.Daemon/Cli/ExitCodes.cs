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

    /// <summary>README "Exit codes": one code per class of <c>serve</c> refusal.</summary>
    public static int ForServeRefusal(ServeRefusal refusal) => refusal switch
    {
        ServeRefusal.Usage => BadRequest,
        ServeRefusal.State => HealthError,
        ServeRefusal.Conflict => Conflict,
        _ => HealthError,
    };

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

/// <summary>Why <c>serve</c> refused to start.</summary>
internal enum ServeRefusal
{
    /// <summary>A flag, an env value standing for one, or a file named on the command line (routes, MCP config, token files) is wrong.</summary>
    Usage,
    /// <summary>The state root, the master key, the stores in it, or the agent plane's security.json is unusable.</summary>
    State,
    /// <summary>Something else holds what serve needs: another daemon's lock, or the port.</summary>
    Conflict,
}
