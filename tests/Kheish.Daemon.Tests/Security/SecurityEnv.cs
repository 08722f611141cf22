using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Security;

/// <summary>One test's world: a project directory and a private XDG config home.</summary>
internal sealed class SecurityEnv : IDisposable
{
    private readonly TempDir _dir = new();

    public SecurityEnv()
    {
        Directory.CreateDirectory(Project);
        Directory.CreateDirectory(Home);
    }

    public TempDir Dir => _dir;

    public string Project => _dir.File("project");

    public string Home => _dir.File("home");

    public string Xdg => _dir.File("xdg");

    public string ProjectFile => Path.Combine(Project, ".kheish", "security.json");

    public string GlobalFile => Path.Combine(Xdg, "kheish", "security.json");

    public Dictionary<string, string> Environment => new() { ["XDG_CONFIG_HOME"] = Xdg, ["HOME"] = Home };

    public Task<CliResult> RunAsync(params string[] args) =>
        Support.Cli.RunAsync(args, Environment.ToDictionary(kv => kv.Key, kv => (string?)kv.Value), workingDirectory: Project);

    public Task<CliResult> RunWithStdinAsync(string stdin, params string[] args) =>
        Support.Cli.RunAsync(args, Environment.ToDictionary(kv => kv.Key, kv => (string?)kv.Value), stdin: stdin, workingDirectory: Project);

    public void Dispose() => _dir.Dispose();
}
