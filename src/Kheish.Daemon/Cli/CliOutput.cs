using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Cli;

/// <summary>
/// Where CLI verbs write. Data goes to stdout, diagnostics to stderr. In json mode a
/// failure is one JSON object on stdout as well, so scripts always parse stdout.
/// </summary>
internal static class CliOutput
{
    public static TextWriter Out { get; set; } = Console.Out;
    public static TextWriter Error { get; set; } = Console.Error;

    public static void WriteJson<T>(T value, JsonTypeInfo<T> typeInfo)
    {
        Out.WriteLine(JsonSerializer.Serialize(value, typeInfo));
    }

    public static void Warn(string message) => Error.WriteLine($"warning: {message}");

    /// <summary>Reports an expected failure and returns its exit code.</summary>
    public static int Fail(KheishError error, bool json)
    {
        if (json)
        {
            Out.WriteLine(JsonSerializer.Serialize(
                new CliErrorEnvelope(new CliError(error.Code, error.Message)),
                CliJsonContext.Default.CliErrorEnvelope));
        }

        Error.WriteLine($"error: {error.Message}");
        return ExitCodes.For(error.Kind);
    }
}

internal sealed record CliError(string Code, string Message);

internal sealed record CliErrorEnvelope(CliError Error);
