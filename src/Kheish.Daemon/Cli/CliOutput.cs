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

    /// <summary>
    /// JSON escapes only what JSON requires (<c>+</c> stays <c>+</c>, a backtick stays a
    /// backtick): the output is read by scripts and people, never embedded in HTML.
    /// </summary>
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void WriteJson<T>(T value, JsonTypeInfo<T> typeInfo) => Out.WriteLine(ToJson(value, typeInfo));

    public static string ToJson<T>(T value, JsonTypeInfo<T> typeInfo)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            JsonSerializer.Serialize(writer, value, typeInfo);
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static void Warn(string message) => Error.WriteLine($"warning: {message}");

    /// <summary>Reports an expected failure and returns its exit code.</summary>
    public static int Fail(KheishError error, bool json) => Fail(error, json, ExitCodes.For(error.Kind));

    /// <summary>Reports an expected failure whose exit code the caller's context decides.</summary>
    public static int Fail(KheishError error, bool json, int exitCode)
    {
        if (json)
        {
            Out.WriteLine(ToJson(
                new CliErrorEnvelope(new CliError(error.Code, error.Message)),
                CliJsonContext.Default.CliErrorEnvelope));
        }

        Error.WriteLine($"error: {error.Message}");
        return exitCode;
    }
}

internal sealed record CliError(string Code, string Message);

internal sealed record CliErrorEnvelope(CliError Error);
