namespace Kheish.Core.Access;

/// <summary>Where the two candidate security.json files of a project live.</summary>
internal enum SecurityConfigOrigin
{
    /// <summary><c>&lt;project&gt;/.kheish/security.json</c>: replaces the global file as a whole.</summary>
    Project,

    /// <summary><c>$XDG_CONFIG_HOME/kheish/security.json</c> (default <c>~/.config/kheish/security.json</c>).</summary>
    Global,

    /// <summary>Neither file exists: strict, no keys (every agent request is refused until a key exists).</summary>
    Default,
}

/// <summary>
/// The candidate files for one project. The project file, when it exists, REPLACES the global
/// file entirely (no merge): a project can be stricter or looser than the machine default, and
/// a reader of one file knows the whole policy.
/// </summary>
internal sealed record SecurityConfigLocation(string ProjectRoot, string ProjectFile, string GlobalFile)
{
    public const string ProjectDirectoryName = ".kheish";
    public const string FileName = "security.json";

    /// <summary>
    /// <paramref name="projectRoot"/> null means the working directory. <paramref name="environment"/>
    /// supplies XDG_CONFIG_HOME and HOME (tests pass their own; null reads the process environment).
    /// </summary>
    public static SecurityConfigLocation Resolve(string? projectRoot, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        string root = Path.GetFullPath(string.IsNullOrEmpty(projectRoot) ? Directory.GetCurrentDirectory() : projectRoot);
        return new SecurityConfigLocation(root, ProjectFileFor(root), GlobalFileFrom(environment));
    }

    public static string ProjectFileFor(string projectRoot) =>
        Path.Combine(Path.GetFullPath(projectRoot), ProjectDirectoryName, FileName);

    /// <summary>XDG base directory rules: a relative XDG_CONFIG_HOME is ignored.</summary>
    public static string GlobalFileFrom(Func<string, string?> environment)
    {
        string? xdg = environment("XDG_CONFIG_HOME");
        string configHome = !string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg)
            ? xdg
            : Path.Combine(
                environment("HOME") is { Length: > 0 } home ? home : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile),
                ".config");
        return Path.Combine(configHome, "kheish", FileName);
    }

    public string FileFor(SecurityConfigOrigin origin) => origin == SecurityConfigOrigin.Global ? GlobalFile : ProjectFile;
}
