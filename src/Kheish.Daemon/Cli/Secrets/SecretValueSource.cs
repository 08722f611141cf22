using System.Text;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Cli.Secrets;

/// <summary>
/// Reads the one secret value <c>secrets set</c> takes, from exactly one source. File and
/// stdin lose one trailing newline ("\n" or "\r\n") so <c>echo key &gt; file</c> works.
/// Errors name the source, never the value.
/// </summary>
internal static class SecretValueSource
{
    /// <summary>No provider credential is anywhere near this size; a bigger input is a mistake.</summary>
    public const int MaxBytes = 1024 * 1024;

    public static Result<string> FromEnv(string variable, Func<string, string?> getEnv) =>
        getEnv(variable) switch
        {
            null => KheishError.BadRequest("secret_source_unreadable", $"environment variable {variable} (from --from-env) is not set"),
            var v => NonEmpty(v, $"environment variable {variable}"),
        };

    public static Result<string> FromFile(string path)
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > MaxBytes)
            {
                return TooLarge($"file {path}");
            }

            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            string why = ex switch
            {
                FileNotFoundException or DirectoryNotFoundException => "it does not exist",
                UnauthorizedAccessException => "permission denied",
                _ => "it cannot be read",
            };
            return KheishError.BadRequest("secret_source_unreadable", $"cannot read {path} (from --from-file): {why}");
        }

        return Decode(bytes, $"file {path}");
    }

    public static Result<string> FromStream(Stream input, string name)
    {
        ArgumentNullException.ThrowIfNull(input);
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[16 * 1024];
        int read;
        while ((read = input.Read(chunk)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > MaxBytes)
            {
                return TooLarge(name);
            }
        }

        return Decode(buffer.ToArray(), name);
    }

    public static Result<string> FromArgument(string value) => NonEmpty(value, "--value");

    private static Result<string> Decode(byte[] bytes, string name)
    {
        string text;
        try
        {
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return KheishError.BadRequest("secret_value_invalid", $"{name} is not valid UTF-8 text");
        }

        if (text.EndsWith("\r\n", StringComparison.Ordinal))
        {
            text = text[..^2];
        }
        else if (text.EndsWith('\n'))
        {
            text = text[..^1];
        }

        return NonEmpty(text, name);
    }

    private static Result<string> NonEmpty(string value, string name) =>
        value.Length == 0
            ? KheishError.BadRequest("secret_value_empty", $"the secret value from {name} is empty; a slot needs a non-empty value")
            : value;

    private static KheishError TooLarge(string name) =>
        new("secret_value_too_large", ErrorKind.PayloadTooLarge, $"{name} holds more than {MaxBytes} bytes; that is not a credential");
}
