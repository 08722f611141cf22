using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Core.Storage;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Secrets;

public sealed class SecretsRekeyTests()
{
    private const string BrokerPurpose = "auth/global-slots.broker-state.json";

    private static Dictionary<string, string?> RekeyEnv(SecretsHarness h, MasterKey next) =>
        new(h.Env) { [MasterKey.NewValueVariable] = Convert.ToBase64String(next.Bytes) };

    private static Dictionary<string, string?> KeyEnv(MasterKey key) =>
        new() { [MasterKey.ValueVariable] = Convert.ToBase64String(key.Bytes) };

    [Test]
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

        await Assert.That(r.ExitCode).IsEqualTo(0);
        using var doc = JsonDocument.Parse(r.Stdout);
        await Assert.That(doc.RootElement.GetProperty("rekeyed").GetInt32()).IsEqualTo(2);
        await Assert.That(doc.RootElement.GetProperty("new_key_id").GetString()).IsEqualTo(next.KeyId);
        await Assert.That(withNew.ExitCode).IsEqualTo(0);
        await Assert.That(JsonDocument.Parse(withNew.Stdout).RootElement.GetProperty("slots").GetArrayLength()).IsEqualTo(2);
        await Assert.That(withOld.ExitCode).IsEqualTo(1);
        await Assert.That(withOld.Stderr).Contains($"encrypted with key id {next.KeyId}");
        await Assert.That(Encoding.UTF8.GetString(EnvelopeCodec.Open(File.ReadAllBytes(h.Root.BrokerStateFile), next, BrokerPurpose).Value)).IsEqualTo("{\"broker\":1}");
    }

    [Test]
    public async Task Rekey_without_a_new_key_changes_nothing()
    {
        using var h = new SecretsHarness();
        await h.SetOk("a", "sk-a");
        byte[] before = h.SlotsBytes();

        CliResult r = await h.Run("rekey", "--offline");

        await Assert.That(r.ExitCode).IsEqualTo(1);
        await Assert.That(r.Stderr).Contains(MasterKey.NewValueVariable);
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(before, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Rekey_requires_offline()
    {
        using var h = new SecretsHarness();

        CliResult r = await h.RunWith(RekeyEnv(h, MasterKey.Generate()), null, "rekey");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("--offline");
    }

    [Test]
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

        await Assert.That(r.ExitCode).IsEqualTo(6);
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(before, CollectionOrdering.Matching);
    }

    [Test]
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
            await Assert.That(underNew + CountUnder(h, h.Key)).IsEqualTo(files + 1);
            if (underNew is > 0 and < files + 1)
            {
                interrupted++;
            }
        }

        CliResult finish = await h.RunWith(env, null, "rekey", "--offline", "--output", "json");

        Console.WriteLine($"{interrupted} of 6 kills landed mid-rekey");
        await Assert.That(finish.ExitCode).IsEqualTo(0);
        using var doc = JsonDocument.Parse(finish.Stdout);
        await Assert.That(doc.RootElement.GetProperty("rekeyed").GetInt32() + doc.RootElement.GetProperty("already_current").GetInt32()).IsEqualTo(files + 1);
        await Assert.That(CountUnder(h, next)).IsEqualTo(files + 1);
    }

    private static int CountUnder(SecretsHarness h, MasterKey key) =>
        EnvelopeRekey.FindEnvelopes(h.Root).Count(f => EnvelopeCodec.Open(File.ReadAllBytes(f.Path), key, f.Purpose).IsOk);
}
