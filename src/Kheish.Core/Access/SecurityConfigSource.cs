using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Core.Access;

/// <summary>
/// The daemon's view of security.json, asked on EVERY agent-plane request. Each call stats the
/// candidate files (project, then global) and reloads only when the file in effect or its stamp
/// changed, so an edit (key revoked, address removed, mode changed) applies to the very next
/// request without a restart, and a project file appearing or disappearing switches files.
/// A file that cannot be read or parsed yields an invalid snapshot: the agent plane refuses
/// every request with the file and the reason, never falls back to a looser file.
/// </summary>
internal sealed class SecurityConfigSource
{
    private readonly object _reloadLock = new();
    private readonly bool _laxPermitted;
    private readonly byte[] _projectPath;
    private readonly byte[] _globalPath;
    private volatile Cached? _cached;
    private FileChangeWatch? _watch;

    /// <param name="location">The project and global candidate files.</param>
    /// <param name="laxPermitted">
    /// False when serve listens on a non-loopback address without <c>--allow-lax-on-network</c>:
    /// a file switched to lax while running then makes the agent plane refuse, like at start.
    /// </param>
    /// <summary>False when the daemon listens beyond loopback without --allow-lax-on-network: lax would be refused.</summary>
    public bool LaxPermitted => _laxPermitted;

    public SecurityConfigSource(SecurityConfigLocation location, bool laxPermitted = true)
    {
        Location = location;
        _laxPermitted = laxPermitted;
        _projectPath = FileStamp.Utf8Path(location.ProjectFile);
        _globalPath = FileStamp.Utf8Path(location.GlobalFile);
    }

    public SecurityConfigLocation Location { get; }

    /// <summary>
    /// Raised (under the reload lock, once per switch) when the file in effect changes between the
    /// project file, the global file and the built-in default: the daemon logs it, since a project
    /// file appearing replaces the global policy as a whole.
    /// </summary>
    public event Action<SecurityConfigSnapshot, SecurityConfigSnapshot>? Switched;

    /// <summary>Number of times a file was (re)read; for tests and diagnostics.</summary>
    public int LoadCount { get; private set; }

    /// <summary>
    /// From now on a request stats the candidate files only when <paramref name="watch"/> saw a
    /// change since the last check (one non-blocking read otherwise).
    /// </summary>
    public void WatchWith(FileChangeWatch watch)
    {
        watch.Track(Location.ProjectFile);
        watch.Track(Location.GlobalFile);
        _watch = watch;
    }

    public SecurityConfigSnapshot Current() => Current(System.Diagnostics.Stopwatch.GetTimestamp());

    /// <summary>The configuration in force for a request served since <paramref name="notBefore"/> (see <see cref="FileChangeWatch.Generation(long)"/>).</summary>
    public SecurityConfigSnapshot Current(long notBefore)
    {
        long generation = _watch?.Generation(notBefore) ?? long.MinValue;
        Cached? cached = _cached;
        if (cached is not null && generation != long.MinValue && cached.Generation == generation)
        {
            return cached.Snapshot;
        }

        (SecurityConfigOrigin origin, FileStamp stamp) = Probe();
        if (cached is not null && cached.Origin == origin && cached.Stamp == stamp)
        {
            // Published as one reference: a slower caller can only leave an older generation behind.
            _cached = cached with { Generation = generation };
            return cached.Snapshot;
        }

        lock (_reloadLock)
        {
            cached = _cached;
            if (cached is not null && cached.Origin == origin && cached.Stamp == stamp)
            {
                return cached.Snapshot;
            }

            SecurityConfigSnapshot snapshot = Load(origin, stamp);
            _cached = new Cached(origin, stamp, snapshot, generation);
            if (cached is not null && cached.Origin != origin)
            {
                Switched?.Invoke(cached.Snapshot, snapshot);
            }

            return snapshot;
        }
    }

    private (SecurityConfigOrigin, FileStamp) Probe()
    {
        FileStamp project = FileStamp.Of(_projectPath, Location.ProjectFile);
        if (project.Kind != FileStampKind.Absent)
        {
            return (SecurityConfigOrigin.Project, project);
        }

        FileStamp global = FileStamp.Of(_globalPath, Location.GlobalFile);
        return global.Kind != FileStampKind.Absent
            ? (SecurityConfigOrigin.Global, global)
            : (SecurityConfigOrigin.Default, FileStamp.Absent);
    }

    private SecurityConfigSnapshot Load(SecurityConfigOrigin origin, FileStamp stamp)
    {
        LoadCount++;
        SecurityConfigSnapshot snapshot = Read(Location, origin, stamp);
        if (snapshot.IsValid && snapshot.Config.Mode == SecurityMode.Lax && !_laxPermitted)
        {
            return SecurityConfigSnapshot.Invalid(origin, snapshot.File, SecurityConfigFile.Invalid(
                snapshot.File ?? "security.json",
                "mode is lax but the daemon listens on a non-loopback address without --allow-lax-on-network"));
        }

        return snapshot;
    }

    /// <summary>One read of the file in effect, without caching (also what the CLI's status uses).</summary>
    public static SecurityConfigSnapshot ReadInEffect(SecurityConfigLocation location)
    {
        FileStamp project = FileStamp.Of(location.ProjectFile);
        if (project.Kind != FileStampKind.Absent)
        {
            return Read(location, SecurityConfigOrigin.Project, project);
        }

        FileStamp global = FileStamp.Of(location.GlobalFile);
        return global.Kind != FileStampKind.Absent
            ? Read(location, SecurityConfigOrigin.Global, global)
            : SecurityConfigSnapshot.Default;
    }

    /// <summary>Reads one specific file (for <c>--global</c>, <c>--project-root</c>); a missing file is the default config.</summary>
    public static SecurityConfigSnapshot ReadFile(SecurityConfigOrigin origin, string file)
    {
        FileStamp stamp = FileStamp.Of(file);
        if (stamp.Kind == FileStampKind.Unusable || stamp.IsWorldWritable)
        {
            return SecurityConfigSnapshot.Invalid(origin, file, Unusable(file, stamp));
        }

        if (stamp.Kind == FileStampKind.Present && OwnershipProblem(file, stamp) is { } foreign)
        {
            return SecurityConfigSnapshot.Invalid(origin, file, foreign);
        }

        Result<SecurityConfig>? loaded = SecurityConfigFile.Load(file);
        if (loaded is null)
        {
            return new SecurityConfigSnapshot(origin, file, SecurityConfig.Default, null);
        }

        return loaded.Value.TryGetValue(out SecurityConfig? config, out KheishError? error)
            ? SecurityConfigSnapshot.Valid(origin, file, config)
            : SecurityConfigSnapshot.Invalid(origin, file, error);
    }

    private static SecurityConfigSnapshot Read(SecurityConfigLocation location, SecurityConfigOrigin origin, FileStamp stamp)
    {
        if (origin == SecurityConfigOrigin.Default)
        {
            return SecurityConfigSnapshot.Default;
        }

        string file = location.FileFor(origin);
        if (stamp.Kind == FileStampKind.Unusable || stamp.IsWorldWritable)
        {
            return SecurityConfigSnapshot.Invalid(origin, file, Unusable(file, stamp));
        }

        if (OwnershipProblem(file, stamp) is { } foreign)
        {
            return SecurityConfigSnapshot.Invalid(origin, file, foreign);
        }

        Result<SecurityConfig>? loaded = SecurityConfigFile.Load(file);
        if (loaded is null)
        {
            // Deleted between the stat and the read: the next request re-probes.
            return SecurityConfigSnapshot.Invalid(origin, file, SecurityConfigFile.Invalid(file, "the file disappeared while being read"));
        }

        return loaded.Value.TryGetValue(out SecurityConfig? config, out KheishError? error)
            ? SecurityConfigSnapshot.Valid(origin, file, config)
            : SecurityConfigSnapshot.Invalid(origin, file, error);
    }

    /// <summary>
    /// A file that grants access must be ours: owned by the daemon's user or root, and not
    /// group-writable; its directory (e.g. <c>.kheish/</c>) likewise, since whoever can write the
    /// directory can replace the file. Another local user must not be able to hand the agent
    /// plane a key or switch it to lax.
    /// </summary>
    private static KheishError? OwnershipProblem(string file, FileStamp stamp)
    {
        long me = FileStamp.EffectiveUid;
        if (!stamp.IsOwnedByUsOrRoot)
        {
            return SecurityConfigFile.Invalid(file,
                $"the file belongs to uid {stamp.Uid}, not to the daemon's user (uid {me}) or root, so another user controls who may connect; run 'chown {me} {file}' or remove it");
        }

        if (stamp.IsGroupWritable)
        {
            return SecurityConfigFile.Invalid(file,
                $"the file's group may write it (mode {Convert.ToString(stamp.Permissions, 8)}), so others could add a key or switch to lax; run 'chmod 600 {file}'");
        }

        string? directory = Path.GetDirectoryName(Path.GetFullPath(file));
        if (directory is not null && FileStamp.OwnerAndMode(directory) is { } dir)
        {
            if ((dir.Uid != 0 && dir.Uid != me && me >= 0) || (dir.Permissions & 0x12) != 0)
            {
                return SecurityConfigFile.Invalid(file,
                    $"its directory {directory} (uid {dir.Uid}, mode {Convert.ToString(dir.Permissions, 8)}) is not owned by the daemon's user or root or is writable by group or others, so the file could be replaced; run 'chown {me} {directory} && chmod go-w {directory}'");
            }
        }

        return null;
    }

    private static KheishError Unusable(string file, FileStamp stamp) => SecurityConfigFile.Invalid(
        file,
        stamp.IsWorldWritable
            ? $"any user can write the file (mode {Convert.ToString(stamp.Permissions, 8)}), so anyone could add a key or switch to lax; run 'chmod 600 {file}'"
            : stamp.Errno switch
            {
                13 => "the file cannot be examined (permission denied on it or a parent directory)",
                21 => "the path is not a regular file",
                _ => $"the file cannot be examined (errno {stamp.Errno})",
            });

    private sealed record Cached(SecurityConfigOrigin Origin, FileStamp Stamp, SecurityConfigSnapshot Snapshot, long Generation);
}
