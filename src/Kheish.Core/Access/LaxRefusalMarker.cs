namespace Kheish.Core.Access;

/// <summary>
/// How an offline edit of security.json learns that a running daemon would refuse lax: a daemon
/// that listens beyond loopback without <c>--allow-lax-on-network</c> holds an exclusive lock on
/// <c>.security.json.no-lax.&lt;pid&gt;</c> beside each candidate file it reads, for as long as
/// it runs. Switching such a file to lax would make that daemon refuse every agent request, so
/// the edit is refused instead. The OS drops the lock when the daemon dies, so a marker left by
/// a crash is recognised as stale (and removed) by the next check.
/// </summary>
internal sealed class LaxRefusalMarker : IDisposable
{
    private const string Infix = ".no-lax.";

    private readonly List<(string Path, FileStream Lock)> _held;

    private LaxRefusalMarker(List<(string, FileStream)> held) => _held = held;

    /// <summary>
    /// Marks the directories of the candidate files that exist (a directory is never created for
    /// this). Best effort: a directory that refuses the marker only loses the offline check.
    /// </summary>
    public static LaxRefusalMarker Hold(SecurityConfigLocation location)
    {
        var held = new List<(string, FileStream)>();
        foreach (string file in new[] { location.ProjectFile, location.GlobalFile }.Distinct(StringComparer.Ordinal))
        {
            string directory = Path.GetDirectoryName(Path.GetFullPath(file))!;
            if (!Directory.Exists(directory))
            {
                continue;
            }

            string path = Path.Combine(directory, "." + Path.GetFileName(file) + Infix + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            try
            {
                // On Unix, FileShare.None makes .NET take flock(LOCK_EX | LOCK_NB): held until we exit.
                held.Add((path, new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.Create,
                    Access = FileAccess.Write,
                    Share = FileShare.None,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                })));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
        }

        return new LaxRefusalMarker(held);
    }

    /// <summary>
    /// The process id of a running daemon that reads <paramref name="file"/> and refuses lax, or
    /// null when there is none. Stale markers (their daemon is gone) are deleted on the way.
    /// </summary>
    public static int? LiveHolder(string file)
    {
        string directory = Path.GetDirectoryName(Path.GetFullPath(file))!;
        string prefix = "." + Path.GetFileName(file) + Infix;
        IEnumerable<string> markers;
        try
        {
            markers = Directory.Exists(directory) ? Directory.EnumerateFiles(directory, prefix + "*").ToList() : [];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        foreach (string marker in markers)
        {
            if (!int.TryParse(Path.GetFileName(marker).AsSpan(prefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid))
            {
                continue;
            }

            try
            {
                using (new FileStream(marker, FileMode.Open, FileAccess.Read, FileShare.None))
                {
                }

                // Nobody holds it: its daemon is gone.
                File.Delete(marker);
            }
            catch (FileNotFoundException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
            catch (IOException)
            {
                return pid;
            }
        }

        return null;
    }

    public void Dispose()
    {
        foreach ((string path, FileStream stream) in _held)
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }

            stream.Dispose();
        }

        _held.Clear();
    }
}
