using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Access;

/// <summary>
/// Read-modify-write of one security.json under an advisory lock, so two CLI edits at once
/// cannot lose each other's change. A running daemon needs no signal: it re-stats the file on
/// every request. An unusable file is never overwritten (its keys would be lost silently).
/// </summary>
internal static class SecurityConfigEditor
{
    public static Result<T> Edit<T>(SecurityConfigOrigin origin, string file, Func<SecurityConfig, Result<(SecurityConfig Updated, T Outcome)>> change)
    {
        string directory = Path.GetDirectoryName(Path.GetFullPath(file))!;
        PrivateDirectory.Ensure(directory);
        using FileStream? held = AcquireLock(Path.Combine(directory, "." + Path.GetFileName(file) + ".lock"));
        if (held is null)
        {
            return KheishError.Conflict("config_locked", $"another kheish-daemon command is editing {file}; try again");
        }

        SecurityConfigSnapshot current = SecurityConfigSource.ReadFile(origin, file);
        if (!current.IsValid)
        {
            return current.Error;
        }

        Result<(SecurityConfig Updated, T Outcome)> result = change(current.Config);
        if (!result.TryGetValue(out var value, out KheishError? error))
        {
            return error;
        }

        if (value.Updated.Mode == SecurityMode.Lax && current.Config.Mode != SecurityMode.Lax && LaxRefusalMarker.LiveHolder(file) is int pid)
        {
            return KheishError.Conflict(
                "lax_refused_by_running_daemon",
                $"the daemon running as pid {pid} reads {file} and listens on a network address without --allow-lax-on-network, so lax would make it refuse every agent request; the mode was not changed. Bind that daemon to 127.0.0.1 or restart it with --allow-lax-on-network first");
        }

        // Also written when unchanged but missing (an explicit "set-mode strict" leaves a file to
        // read) or holding plaintext keys (upgraded to digests).
        if (!ReferenceEquals(value.Updated, current.Config) || !File.Exists(file) || current.Config.ApiKeys.Any(k => k.IsWeak))
        {
            SecurityConfigFile.Save(file, value.Updated);
        }

        return value.Outcome;
    }

    private static FileStream? AcquireLock(string path)
    {
        for (int attempt = 0; attempt < 50; attempt++)
        {
            try
            {
                // On Unix, FileShare.None makes .NET take flock(LOCK_EX | LOCK_NB).
                return new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.OpenOrCreate,
                    Access = FileAccess.ReadWrite,
                    Share = FileShare.None,
                    UnixCreateMode = AtomicFile.PrivateFileMode,
                });
            }
            catch (IOException)
            {
                Thread.Sleep(100);
            }
        }

        return null;
    }
}
