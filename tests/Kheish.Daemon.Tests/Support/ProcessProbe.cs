namespace Kheish.Daemon.Tests.Support;

/// <summary>Whether a process still runs, read from /proc; a zombie (exited, not yet reaped) counts as gone.</summary>
internal static class ProcessProbe
{
    public static bool Alive(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Gone, or going: the file vanishes (or reads ESRCH) once the process has been reaped.
            return false;
        }

        // "pid (comm) state ...": comm may hold spaces and parentheses, the state follows the last ')'.
        int close = stat.LastIndexOf(')');
        return close < 0 || close + 2 >= stat.Length || stat[close + 2] != 'Z';
    }
}
