using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Core.Storage;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Secrets;

public sealed class SecretsRekeyTests(ITestOutputHelper output)
{
    private const string BrokerPurpose = "auth/global-slots.broker-state.json";

    private static Dictionary<string, string?> RekeyEnv(SecretsHarness h, MasterKey next) =>
        new(h.Env) { [MasterKey.NewValueVariable] = Convert.ToBase64String(next.Bytes) };

    private static Dictionary<string, string?> KeyEnv(MasterKey key) =>
        new() { [MasterKey.ValueVariable] = Convert.ToBase64String(key.Bytes) };

    [Fact]
    public async Task Rekey_moves_every_envelope_to_the_new_key()
    {
        using var h = new SecretsHarness();
        await h.SetOk("a", "sk-a");
        await h.SetOk("b", "sk-b");
        AtomicFile.Write(h.Root.BrokerStateFile, EnvelopeCodec.Seal("{\"broker\":1}"u8, h.Key, BrokerPurpose));
        MasterKey next = MasterKey.Generate();

        CliResult r = await h.RunWith(RekeyEnv(h, next), null, "rekey", "--offline", "--output", "json");
        CliResult withNew = await h.RunWith(KeyEnv(next), null, "list", "--offline", "--output", "json");
        CliResult withOld = await h.Run("list", "--offline");

        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(2, doc.RootElement.GetProperty("rekeyed").GetInt32());
        Assert.Equal(next.KeyId, doc.RootElement.GetProperty("new_key_id").GetString());
        Assert.Equal(0, withNew.ExitCode);
        Assert.Equal(2, JsonDocument.Parse(withNew.Stdout).RootElement.GetProperty("slots").GetArrayLength());
        Assert.Equal(1, withOld.ExitCode);
        Assert.Contains($"encrypted with key id {next.KeyId}", withOld.Stderr);
        Assert.Equal("{\"broker\":1}", Encoding.UTF8.GetString(EnvelopeCodec.Open(File.ReadAllBytes(h.Root.BrokerStateFile), next, BrokerPurpose).Value));
    }

    [Fact]
    public async Task Rekey_without_a_new_key_changes_nothing()
    {
        using var h = new SecretsHarness();
        await h.SetOk("a", "sk-a");
        byte[] before = h.SlotsBytes();

        CliResult r = await h.Run("rekey", "--offline");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains(MasterKey.NewValueVariable, r.Stderr);
        Assert.Equal(before, h.SlotsBytes());
    }

    [Fact]
    public async Task Rekey_requires_offline()
    {
        using var h = new SecretsHarness();

        CliResult r = await h.RunWith(RekeyEnv(h, MasterKey.Generate()), null, "rekey");

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--offline", r.Stderr);
    }

    [Fact]
    public async Task Rekey_is_refused_while_a_daemon_holds_the_lock()
    {
        using var h = new SecretsHarness();
        await h.SetOk("a", "sk-a");
        byte[] before = h.SlotsBytes();

        CliResult r;
        using (new FileStream(h.Root.LockFile, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            r = await h.RunWith(RekeyEnv(h, MasterKey.Generate()), null, "rekey", "--offline");
        }

        Assert.Equal(6, r.ExitCode);
        Assert.Equal(before, h.SlotsBytes());
    }

    [Fact]
    public async Task A_rekey_killed_at_any_moment_is_completed_by_running_it_again()
    {
        const int files = 300;
        using var h = new SecretsHarness();
        await h.SetOk("a", "sk-a");
        for (int i = 0; i < files; i++)
        {
            string purpose = $"extra/state-{i:D4}.json";
            AtomicFile.Write(Path.Combine(h.Root.FullPath, purpose), EnvelopeCodec.Seal(Encoding.UTF8.GetBytes(purpose), h.Key, purpose));
        }

        MasterKey next = MasterKey.Generate();
        var env = RekeyEnv(h, next);
        var sw = Stopwatch.StartNew();
        using (var probe = Process.Start(Support.Cli.StartInfo(["secrets", "rekey", "--offline", "--state-root", "/nonexistent-kheish-probe"], env))!)
        {
            await probe.WaitForExitAsync();
        }

        int startupMs = (int)sw.ElapsedMilliseconds;
        int interrupted = 0;
        for (int round = 0; round < 6; round++)
        {
            using var process = Process.Start(Support.Cli.StartInfo(["secrets", "rekey", "--offline", "--state-root", h.Dir.StateRoot], env))!;
            await Task.Delay(Random.Shared.Next(startupMs / 2, startupMs * 3));
            process.Kill();
            await process.WaitForExitAsync();
            int underNew = CountUnder(h, next);
            Assert.Equal(files + 1, underNew + CountUnder(h, h.Key));
            if (underNew is > 0 and < files + 1)
            {
                interrupted++;
            }
        }

        CliResult finish = await h.RunWith(env, null, "rekey", "--offline", "--output", "json");

        output.WriteLine($"{interrupted} of 6 kills landed mid-rekey");
        Assert.Equal(0, finish.ExitCode);
        using var doc = JsonDocument.Parse(finish.Stdout);
        Assert.Equal(files + 1, doc.RootElement.GetProperty("rekeyed").GetInt32() + doc.RootElement.GetProperty("already_current").GetInt32());
        Assert.Equal(files + 1, CountUnder(h, next));
    }

    private static int CountUnder(SecretsHarness h, MasterKey key) =>
        EnvelopeRekey.FindEnvelopes(h.Root).Count(f => EnvelopeCodec.Open(File.ReadAllBytes(f.Path), key, f.Purpose).IsOk);
}
