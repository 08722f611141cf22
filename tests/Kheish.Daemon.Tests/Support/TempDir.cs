namespace Kheish.Daemon.Tests.Support;

/// <summary>A fresh directory per test, deleted afterwards. Parallel-safe.</summary>
public sealed class TempDir : IDisposable
{
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
        Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories).Select(f => (f, Read(f)));

    /// <summary>
    /// Lock files held by a live daemon (flock) cannot be opened by .NET; they are empty by
    /// design, which is checked, so a locked file with content still fails the scan.
    /// </summary>
    private static byte[] Read(string file)
    {
        try
        {
            return System.IO.File.ReadAllBytes(file);
        }
        catch (IOException) when (new FileInfo(file).Length == 0)
        {
            return [];
        }
    }
}
