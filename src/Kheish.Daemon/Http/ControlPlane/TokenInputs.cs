using Kheish.Core.Errors;

namespace Kheish.Daemon.Http.ControlPlane;

/// <summary>
/// Where a control-plane token comes from, for the daemon's admin/read-only tokens and the
/// CLI's client token alike: the flag value or flag file, else the env value or env file
/// (<c>NAME</c> / <c>NAME_FILE</c>). A value and a file for the same token is an error.
/// </summary>
internal static class TokenInputs
{
    public static Result<(string? Value, string? File)> Resolve(
        string what, string flagName, string? value, string? file, string envName, Func<string, string?> getEnv)
    {
        if (value is not null && file is not null)
        {
            return KheishError.BadRequest("conflicting_token_sources", $"give {what} as {flagName} or {flagName}-file, not both");
        }

        if (value is null && file is null)
        {
            value = Blank(getEnv(envName));
            file = Blank(getEnv(envName + "_FILE"));
            if (value is not null && file is not null)
            {
                return KheishError.BadRequest("conflicting_token_sources", $"{envName} and {envName}_FILE are both set; unset one");
            }
        }

        return (value, file);
    }

    private static string? Blank(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;
}
