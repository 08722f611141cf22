namespace Kheish.Core.Errors;

/// <summary>
/// Plain words for a file-system failure, for messages a person reads: never the exception's
/// type name or its (localised, sometimes resource-key) message.
/// </summary>
internal static class IoReason
{
    private const int HResultDiskFull = unchecked((int)0x80070070);
    private const int Enospc = 28;
    private const int Edquot = 122;

    public static string Of(Exception ex) => ex switch
    {
        FileNotFoundException => "file not found",
        DirectoryNotFoundException => "directory not found",
        UnauthorizedAccessException => "permission denied",
        PathTooLongException => "path too long",
        _ when IsDiskFull(ex) => "no space left on the device",
        IOException io when io.Message.Contains("exists", StringComparison.OrdinalIgnoreCase) => "the file already exists",
        IOException => "input/output error",
        _ => "unexpected error",
    };

    /// <summary>ENOSPC / EDQUOT, as .NET reports them on Unix (HResult holds the errno) or Windows.</summary>
    public static bool IsDiskFull(Exception ex) =>
        ex is IOException && ex.HResult is Enospc or Edquot or HResultDiskFull;
}
