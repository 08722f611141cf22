using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Secrets;

/// <summary>
/// daemon.lock held by another process (this test process, through flock via FileShare.None;
/// the CLI under test is a separate process).
/// </summary>
public sealed class SecretsLockTests
{
    private static FileStream HoldLock(SecretsHarness h) => new(h.Root.LockFile, new FileStreamOptions
    {
        Mode = FileMode.OpenOrCreate,
        Access = FileAccess.ReadWrite,
        Share = FileShare.None,
    });

    [Fact]
    public async Task An_offline_write_is_refused_with_exit_6_while_another_process_holds_the_lock()
    {
        using var h = new SecretsHarness();
        await h.SetOk("existing", "sk-existing");
        byte[] before = h.SlotsBytes();

        CliResult r;
        using (HoldLock(h))
        {
            r = await h.RunWith(new(h.Env) { ["V"] = "sk-new" }, null, "set", "new", "--provider", "openai", "--from-env", "V", "--offline", "--output", "json");
        }

        Assert.Equal(6, r.ExitCode);
        Assert.Equal("state_root_locked", JsonDocument.Parse(r.Stdout).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("a daemon is running on this state root", r.Stderr);
        Assert.Contains("drop --offline", r.Stderr);
        Assert.Equal(before, h.SlotsBytes());
    }

    [Fact]
    public async Task An_offline_delete_is_refused_while_the_lock_is_held()
    {
        using var h = new SecretsHarness();
        await h.SetOk("existing", "sk-existing");
        byte[] before = h.SlotsBytes();

        CliResult r;
        using (HoldLock(h))
        {
            r = await h.Run("delete", "existing", "--offline");
        }

        Assert.Equal(6, r.ExitCode);
        Assert.Equal(before, h.SlotsBytes());
    }

    [Fact]
    public async Task Reads_work_while_the_lock_is_held()
    {
        using var h = new SecretsHarness();
        await h.SetOk("existing", "sk-existing");

        CliResult r;
        using (HoldLock(h))
        {
            r = await h.Run("list", "--offline");
        }

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("existing", r.Stdout);
    }
}
