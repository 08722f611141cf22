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
        Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories)
            // daemon.lock is empty and flock-held by a live daemon; reading it would fail.
            .Where(f => System.IO.Path.GetFileName(f) != "daemon.lock")
            .Select(f => (f, System.IO.File.ReadAllBytes(f)));
}
