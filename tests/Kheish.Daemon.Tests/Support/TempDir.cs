namespace Kheish.Daemon.Tests.Support;

/// <summary>A fresh directory per test, deleted afterwards. Parallel-safe.</summary>
public sealed class TempDir : IDisposable
{
    /// <summary>Copies the tree <paramref name="from"/> into <paramref name="to"/> (a state root's backup, for rollback tests).</summary>
    public static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(System.IO.Path.Combine(to, System.IO.Path.GetRelativePath(from, dir)));
        }

        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            System.IO.File.Copy(file, System.IO.Path.Combine(to, System.IO.Path.GetRelativePath(from, file)));
        }
    }

    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "kheish-e2e-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string StateRoot => System.IO.Path.Combine(Path, "state");

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Every file under the directory with its bytes, for canary scans.</summary>
    public IEnumerable<(string Path, byte[] Bytes)> AllFiles() =>
        Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories)
            .Select(f => (f, Bytes: Read(f)))
            .Where(x => x.Bytes is not null)
            .Select(x => (x.f, x.Bytes!));

    /// <summary>
    /// Reads a file a live daemon may be writing. Lock files held by the daemon (flock) cannot
    /// be opened by .NET; they are empty by design, which is checked, so a locked file with
    /// content still fails the scan. A temporary file being written (flock while it is written,
    /// then renamed) is retried until it is readable or gone: a file renamed away is skipped,
    /// because its bytes are scanned under the name it was renamed to, or the write was not
    /// finished when the directory was listed.
    /// </summary>
    private static byte[]? Read(string file)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return System.IO.File.ReadAllBytes(file);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                return null;
            }
            catch (IOException) when (attempt < 100)
            {
                long length;
                try
                {
                    length = new FileInfo(file).Length;
                }
                catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
                {
                    return null;
                }

                if (length == 0 && !file.EndsWith(".tmp", StringComparison.Ordinal))
                {
                    return [];
                }

                Thread.Sleep(20);
            }
        }
    }
}
