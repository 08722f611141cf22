using System.Text.RegularExpressions;
using Kheish.Core.Access;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Security;

/// <summary>The interactive wizard driven through a real pseudo-terminal (tmux), as a person would.</summary>
[NotInParallel("tmux")]
public sealed partial class SecuritySetupWizardPtyTests : IDisposable
{
    private readonly SecurityEnv _env = new();

    [GeneratedRegex("kheish_[0-9a-f]{64}")]
    private static partial Regex KeyPattern();

    [Test]
    public async Task Happy_path_writes_the_chosen_global_file_and_shows_a_working_key_once()
    {
        if (!Tmux.Available)
        {
            Skip.Test("tmux is not installed (scripts/test-deps.sh installs it)");
        }

        using Tmux pty = await Tmux.StartAsync(_env.Project, _env.Environment, DaemonBinary.Path, "security", "setup");
        await pty.WaitForAsync("File [1]:");
        await pty.SendLineAsync("2");
        await pty.WaitForAsync("Mode [1]:");
        await pty.SendLineAsync("2");
        await pty.WaitForAsync("Generate an API key now? [Y/n]:");
        await pty.SendLineAsync("");
        await pty.WaitForAsync("Enter when done:");
        await pty.SendLineAsync("10.20.0.0/16");
        await pty.WaitForAsync("Enter when done:", 2);
        await pty.SendLineAsync("-::1");
        await pty.WaitForAsync("Remove it? [y/N]:");
        await pty.SendLineAsync("y");
        await pty.WaitForAsync("Enter when done:", 3);
        await pty.SendLineAsync("");
        string review = await pty.WaitForAsync("Write this configuration? [y/N]:");
        await Assert.That(review).Contains("relaxed");
        await Assert.That(review).Contains("127.0.0.1, 10.20.0.0/16");
        await pty.SendLineAsync("y");
        string screen = await pty.WaitForAsync("EXIT=");

        await Assert.That(screen).Contains("EXIT=0");
        string key = (await Assert.That(KeyPattern().Matches(screen)).HasSingleItem())!.Value;
        SecurityConfig config = SecurityConfigFile.Load(_env.GlobalFile)!.Value.Value;
        await Assert.That(config.Mode).IsEqualTo(SecurityMode.Relaxed);
        await Assert.That(config.AllowedIps.Entries).IsEquivalentTo(["127.0.0.1", "10.20.0.0/16"], CollectionOrdering.Matching);
        await Assert.That(config.FindByDigest(ApiKeys.Digest(key))).IsNotNull();
        await Assert.That(File.Exists(_env.ProjectFile)).IsFalse();
        Canary.AssertAbsentFromFiles(key, _env.Dir);

        CliResult status = await _env.RunAsync("security", "status");
        Canary.AssertAbsent(key, status.All, "status after setup");
        await Assert.That(status.Stdout).Contains(_env.GlobalFile);
    }

    [Test]
    public async Task Declining_at_the_review_writes_nothing()
    {
        if (!Tmux.Available)
        {
            Skip.Test("tmux is not installed (scripts/test-deps.sh installs it)");
        }

        using Tmux pty = await Tmux.StartAsync(_env.Project, _env.Environment, DaemonBinary.Path, "security", "setup");
        await pty.WaitForAsync("File [1]:");
        await pty.SendLineAsync("");
        await pty.WaitForAsync("Mode [1]:");
        await pty.SendLineAsync("");
        await pty.WaitForAsync("[Y/n]:");
        await pty.SendLineAsync("");
        await pty.WaitForAsync("Enter when done:");
        await pty.SendLineAsync("");
        await pty.WaitForAsync("Write this configuration? [y/N]:");
        await pty.SendLineAsync("n");
        string screen = await pty.WaitForAsync("EXIT=");

        await Assert.That(screen).Contains("nothing was written");
        await Assert.That(screen).DoesNotMatch(KeyPattern());
        await Assert.That(Directory.Exists(Path.Combine(_env.Project, ".kheish"))).IsFalse();
        await Assert.That(Directory.Exists(_env.Xdg)).IsFalse();
    }

    [Test]
    public async Task Ctrl_D_mid_wizard_cancels_and_writes_nothing()
    {
        if (!Tmux.Available)
        {
            Skip.Test("tmux is not installed (scripts/test-deps.sh installs it)");
        }

        using Tmux pty = await Tmux.StartAsync(_env.Project, _env.Environment, DaemonBinary.Path, "security", "setup");
        await pty.WaitForAsync("File [1]:");
        await pty.SendLineAsync("1");
        await pty.WaitForAsync("Mode [1]:");
        await pty.SendCtrlDAsync();
        string screen = await pty.WaitForAsync("EXIT=");

        await Assert.That(screen).Contains("EXIT=2");
        await Assert.That(screen).Contains("nothing was written");
        await Assert.That(Directory.Exists(Path.Combine(_env.Project, ".kheish"))).IsFalse();
    }

    public void Dispose() => _env.Dispose();
}
