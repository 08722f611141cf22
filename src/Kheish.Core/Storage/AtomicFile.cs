namespace Kheish.Core.Storage;

/// <summary>
/// Every state file is replaced, never edited: write a 0600 temp file beside the target,
/// fsync it, rename it over the target, fsync the directory. A reader sees the old file or
/// the new one, and a crash after return loses nothing.
/// </summary>
internal static class AtomicFile
{
    public const UnixFileMode PrivateFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public static void Write(string path, ReadOnlySpan<byte> contents)
    {
        string fullPath = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(fullPath)
            ?? throw new IOException($"'{path}' has no parent directory");
        PrivateDirectory.Ensure(directory);

        string temp = Path.Combine(
            directory,
            $".{Path.GetFileName(fullPath)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                UnixCreateMode = PrivateFileMode,
            };
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(contents);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, fullPath, overwrite: true);
            PosixNative.FsyncDirectory(directory);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    public static void WriteText(string path, string contents) =>
        Write(path, System.Text.Encoding.UTF8.GetBytes(contents));

    /// <summary>Reads the whole file, or null when it does not exist.</summary>
    public static byte[]? ReadOrNull(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
