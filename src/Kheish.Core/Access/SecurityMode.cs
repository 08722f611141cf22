namespace Kheish.Core.Access;

/// <summary>How the agent plane treats API keys (seed "Security Modes").</summary>
internal enum SecurityMode
{
    /// <summary>A valid key is required on every request.</summary>
    Strict,

    /// <summary>A key is optional; a key that is presented must be valid.</summary>
    Relaxed,

    /// <summary>No authentication; the IP allowlist still applies.</summary>
    Lax,
}

internal static class SecurityModes
{
    public static readonly IReadOnlyList<string> Names = ["strict", "relaxed", "lax"];

    public static string Name(this SecurityMode mode) => mode switch
    {
        SecurityMode.Strict => "strict",
        SecurityMode.Relaxed => "relaxed",
        SecurityMode.Lax => "lax",
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    /// <summary>One line a person reads in <c>security status</c> and in the wizard.</summary>
    public static string Meaning(this SecurityMode mode) => mode switch
    {
        SecurityMode.Strict => "every agent request needs a valid API key",
        SecurityMode.Relaxed => "an API key is optional, but a key that is presented must be valid",
        SecurityMode.Lax => "no authentication: any request from an allowed address is accepted",
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    /// <summary>Exact, lower-case names only: anything else is a configuration error (fail closed).</summary>
    public static bool TryParse(string? text, out SecurityMode mode)
    {
        switch (text)
        {
            case "strict":
                mode = SecurityMode.Strict;
                return true;
            case "relaxed":
                mode = SecurityMode.Relaxed;
                return true;
            case "lax":
                mode = SecurityMode.Lax;
                return true;
            default:
                mode = SecurityMode.Strict;
                return false;
        }
    }
}
