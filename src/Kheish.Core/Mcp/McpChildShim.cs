namespace Kheish.Core.Mcp;

/// <summary>
/// <c>kheish-daemon __mcp-exec &lt;parent-pid&gt; &lt;command&gt; [args...]</c>: the first thing a
/// supervised stdio child runs. It leaves the daemon's session (own process group, so a stop
/// signals the whole group), asks the kernel for SIGKILL when the daemon dies (kill -9
/// included), checks the daemon did not die in between, and execs the server with the
/// environment it was given (already cleared by the daemon).
/// </summary>
internal static class McpChildShim
{
    public const string Verb = "__mcp-exec";

    public static int Run(string[] args)
    {
        if (args.Length < 3 || args[0] != Verb || !int.TryParse(args[1], System.Globalization.CultureInfo.InvariantCulture, out int parent))
        {
            Console.Error.WriteLine("error: internal verb; usage: __mcp-exec <parent-pid> <command> [args...]");
            return 2;
        }

        _ = ChildNative.SetSid();
        if (!ChildNative.DieWithParent() || ChildNative.GetPpid() != parent)
        {
            return 1;
        }

        string command = args[2];
        var env = new List<string>();
        string? path = null;
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
        {
            string key = (string)e.Key;
            if (key == "DOTNET_EnableDiagnostics")
            {
                continue;
            }

            if (key == "PATH")
            {
                path = e.Value as string;
            }

            env.Add(key + "=" + e.Value);
        }

        string? file = Resolve(command, path);
        if (file is null)
        {
            Console.Error.WriteLine($"error: mcp server command `{command}` not found on the child's PATH");
            return 127;
        }

        int errno = ChildNative.Exec(file, [command, .. args[3..]], env);
        Console.Error.WriteLine($"error: cannot execute mcp server command `{command}` (errno {errno})");
        return 126;
    }

    private static string? Resolve(string command, string? path)
    {
        if (command.Contains('/', StringComparison.Ordinal))
        {
            return command;
        }

        foreach (string dir in (path ?? "/usr/local/bin:/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, command);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
