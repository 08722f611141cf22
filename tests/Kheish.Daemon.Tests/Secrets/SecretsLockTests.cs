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

    [Test]
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

        await Assert.That(r.ExitCode).IsEqualTo(6);
        await Assert.That(JsonDocument.Parse(r.Stdout).RootElement.GetProperty("error").GetProperty("code").GetString()).IsEqualTo("state_root_locked");
        await Assert.That(r.Stderr).Contains("a daemon is running on this state root");
        await Assert.That(r.Stderr).Contains("drop --offline");
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(before, CollectionOrdering.Matching);
    }

    [Test]
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

        await Assert.That(r.ExitCode).IsEqualTo(6);
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(before, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Reads_work_while_the_lock_is_held()
    {
        using var h = new SecretsHarness();
        await h.SetOk("existing", "sk-existing");

        CliResult r;
        using (HoldLock(h))
        {
            r = await h.Run("list", "--offline");
        }

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(r.Stdout).Contains("existing");
    }
}
