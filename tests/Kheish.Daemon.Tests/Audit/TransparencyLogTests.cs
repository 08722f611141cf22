using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Audit;

/// <summary>
/// The transparency log through the real binary: checkpoints and receipts over HTTP and the CLI,
/// offline verification with only the public key, and the rollback that only a checkpoint kept
/// outside the state root can catch.
/// </summary>
public sealed class TransparencyLogTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _admin = "adm-" + Guid.NewGuid().ToString("N");
    private readonly string _readonly = "ro-" + Guid.NewGuid().ToString("N");

    public void Dispose() => _dir.Dispose();

    [Test]
    public async Task A_probe_action_gets_a_receipt_that_verifies_offline_and_any_tampering_fails()
    {
        DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--http-admin-token", _admin, "--http-readonly-token", _readonly]);
        using HttpClient admin = daemon.Client(_admin);
        using HttpClient ro = daemon.Client(_readonly);
        using HttpClient anonymous = daemon.Client();
        HttpResponseMessage probe = await admin.PostAsync("/v1/runtime/audit/test-action",
            new StringContent("{\"run_id\":\"run-7\",\"target\":\"probe\"}", Encoding.UTF8, "application/json"));
        await Assert.That(probe.StatusCode).IsEqualTo(HttpStatusCode.OK);
        using JsonDocument probeBody = JsonDocument.Parse(await probe.Content.ReadAsStringAsync());
        string actionId = probeBody.RootElement.GetProperty("completed").GetProperty("action_id").GetString()!;

        // The receipt exists once the next checkpoint is out (at most ~1 s).
        HttpResponseMessage proof = await PollAsync(() => ro.GetAsync($"/v1/audit/proof/{actionId}"));
        string receipt = await proof.Content.ReadAsStringAsync();
        string checkpoint = await ro.GetStringAsync("/v1/audit/checkpoint");
        HttpResponseMessage unauthenticated = await anonymous.GetAsync("/v1/audit/checkpoint");
        var env = new Dictionary<string, string?> { ["KHEISH_DAEMON_URL"] = daemon.BaseUri.ToString(), ["KHEISH_DAEMON_TOKEN"] = _readonly };
        CliResult online = await Support.Cli.RunAsync(["runs", "prove", actionId], env);
        CliResult onlineJson = await Support.Cli.RunAsync(["runs", "prove", actionId, "-o", "json"], env);
        string key = (await Support.Cli.RunAsync(["audit", "public-key", "--state-root", _dir.StateRoot])).Stdout.Trim();

        await Assert.That(receipt).StartsWith("c2sp.org/tlog-proof@v1\nextra ");
        await Assert.That(checkpoint).StartsWith($"kheish-daemon/{key[..8]}\n");
        await Assert.That(unauthenticated.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(online.ExitCode).IsEqualTo(0).Because(online.ToString());
        await Assert.That(online.Stdout).StartsWith("c2sp.org/tlog-proof@v1\n");
        using (JsonDocument j = JsonDocument.Parse(onlineJson.Stdout))
        {
            await Assert.That(j.RootElement.GetProperty("action_id").GetString()).IsEqualTo(actionId);
            await Assert.That(j.RootElement.GetProperty("receipt").GetString()).StartsWith("c2sp.org/tlog-proof@v1\n");
        }

        await daemon.StopAsync();
        await daemon.DisposeAsync();

        string file = _dir.File("receipt.tlog-proof");
        File.WriteAllText(file, receipt);
        CliResult ok = await Support.Cli.RunAsync(["audit", "verify-proof", file, "--public-key", key]);
        CliResult okJson = await Support.Cli.RunAsync(["audit", "verify-proof", file, "--public-key", key, "-o", "json"]);
        CliResult wrongKey = await Support.Cli.RunAsync(["audit", "verify-proof", file, "--public-key", new string('1', 63)]);
        CliResult otherKey = await Support.Cli.RunAsync(["audit", "verify-proof", file, "--public-key", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"]);
        CliResult noKey = await Support.Cli.RunAsync(["audit", "verify-proof", file]);

        await Assert.That(ok.ExitCode).IsEqualTo(0).Because(ok.ToString());
        await Assert.That(ok.Stdout).StartsWith($"OK: action {actionId} (completed probe probe) is leaf ");
        using (JsonDocument j = JsonDocument.Parse(okJson.Stdout))
        {
            await Assert.That(j.RootElement.GetProperty("ok").GetBoolean()).IsTrue();
            await Assert.That(j.RootElement.GetProperty("record").GetProperty("run_id").GetString()).IsEqualTo("run-7");
        }

        await Assert.That(wrongKey.ExitCode).IsEqualTo(2);
        await Assert.That(otherKey.ExitCode).IsEqualTo(1);
        await Assert.That(otherKey.Stdout).Contains("no signature by a trusted key");
        await Assert.That(noKey.ExitCode).IsEqualTo(2);

        // Flip bytes spread over the whole receipt: extra, index, proof, checkpoint body and signature.
        byte[] bytes = Encoding.UTF8.GetBytes(receipt);
        var accepted = new List<int>();
        for (int i = 0; i < bytes.Length; i += Math.Max(1, bytes.Length / 40))
        {
            byte[] tampered = (byte[])bytes.Clone();
            tampered[i] ^= 0x01;
            File.WriteAllBytes(file, tampered);
            CliResult r = await Support.Cli.RunAsync(["audit", "verify-proof", file, "--public-key", key]);
            if (r.ExitCode == 0)
            {
                accepted.Add(i);
            }
        }

        await Assert.That(accepted).IsEmpty();
    }

    [Test]
    public async Task Offline_prove_gives_the_same_kind_of_receipt_and_names_bad_ids()
    {
        CliResult stress = await Run("audit", "stress", "--count", "30", "--producers", "3", "--run", "offline");
        string actionId = stress.Stdout.Split('\n').First(l => l.StartsWith("ack ", StringComparison.Ordinal))[4..];
        string key = (await Run("audit", "public-key")).Stdout.Trim();

        CliResult prove = await Run("runs", "prove", actionId, "--offline");
        CliResult unknown = await Run("runs", "prove", new string('a', 64), "--offline");
        CliResult invalid = await Run("runs", "prove", "not-an-id", "--offline");
        string file = _dir.File("offline.tlog-proof");
        File.WriteAllText(file, prove.Stdout);
        CliResult verified = await Support.Cli.RunAsync(["audit", "verify-proof", file, "--public-key", key]);

        await Assert.That(prove.ExitCode).IsEqualTo(0).Because(prove.ToString());
        await Assert.That(verified.ExitCode).IsEqualTo(0).Because(verified.ToString());
        await Assert.That(verified.Stdout).Contains("at size 30");
        await Assert.That(unknown.ExitCode).IsEqualTo(5);
        await Assert.That(unknown.Stderr).Contains("no ledger record with action id");
        await Assert.That(invalid.ExitCode).IsEqualTo(2);
        await Assert.That(invalid.Stderr).Contains("64 lowercase hex");
    }

    [Test]
    public async Task A_restored_backup_that_is_appended_to_fails_verify_since_checkpoint_naming_the_fork()
    {
        await Run("audit", "stress", "--count", "20", "--producers", "2", "--run", "r");
        string backup = Path.Combine(_dir.Path, "backup");
        TempDir.CopyTree(_dir.StateRoot, backup);
        CliResult more = await Run("audit", "stress", "--count", "100", "--producers", "4", "--run", "r");
        await Assert.That(more.ExitCode).IsEqualTo(0).Because(more.ToString());
        string kept = _dir.File("kept-checkpoint");
        File.Copy(Path.Combine(_dir.StateRoot, "external-action-log", "checkpoint"), kept);

        CliResult before = await Run("runs", "verify", "--all", "--since-checkpoint", kept);
        CliResult consistent = await Run("audit", "consistency", kept);

        Directory.Delete(_dir.StateRoot, recursive: true);
        TempDir.CopyTree(backup, _dir.StateRoot);
        CliResult rolledBack = await Run("runs", "verify", "--all", "--since-checkpoint", kept);
        await Run("audit", "stress", "--count", "100", "--producers", "4", "--run", "r");
        CliResult forked = await Run("runs", "verify", "--all", "--since-checkpoint", kept);
        CliResult forkedJson = await Run("audit", "consistency", kept, "-o", "json");

        await Assert.That(before.ExitCode).IsEqualTo(0).Because(before.ToString());
        await Assert.That(before.Stdout).Contains("extends the kept checkpoint at size 120");
        await Assert.That(consistent.ExitCode).IsEqualTo(0).Because(consistent.ToString());
        await Assert.That(rolledBack.ExitCode).IsEqualTo(1).Because(rolledBack.ToString());
        await Assert.That(rolledBack.Stdout).Contains("rollback: the log's latest checkpoint covers 20 records, fewer than the kept checkpoint's 120");
        await Assert.That(forked.ExitCode).IsEqualTo(1).Because(forked.ToString());
        await Assert.That(forked.Stdout).Contains("fork: the kept checkpoint (size 120");
        using JsonDocument j = JsonDocument.Parse(forkedJson.Stdout);
        await Assert.That(j.RootElement.GetProperty("failure_code").GetString()).IsEqualTo("fork");
        await Assert.That(forkedJson.ExitCode).IsEqualTo(1);
    }

    [Test]
    public async Task A_checkpoint_signed_by_another_key_is_refused_as_the_kept_checkpoint()
    {
        await Run("audit", "stress", "--count", "5", "--producers", "1", "--run", "r");
        string kept = _dir.File("kept");
        string note = File.ReadAllText(Path.Combine(_dir.StateRoot, "external-action-log", "checkpoint"));
        File.WriteAllText(kept, note.Replace("\n5\n", "\n6\n", StringComparison.Ordinal));

        CliResult r = await Run("runs", "verify", "--all", "--since-checkpoint", kept);

        await Assert.That(r.ExitCode).IsEqualTo(2).Because(r.ToString());
        await Assert.That(r.Stderr).Contains("the kept checkpoint does not verify");
    }

    private Task<CliResult> Run(params string[] args) => Support.Cli.RunAsync(["--state-root", _dir.StateRoot, .. args]);

    private static async Task<HttpResponseMessage> PollAsync(Func<Task<HttpResponseMessage>> get)
    {
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            HttpResponseMessage r = await get();
            if (r.StatusCode == HttpStatusCode.OK || DateTime.UtcNow > deadline)
            {
                return r;
            }

            await Task.Delay(100);
        }
    }
}
