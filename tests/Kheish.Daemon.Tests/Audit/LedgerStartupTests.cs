using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Audit;

/// <summary>
/// serve on a ledger built beforehand (issue 16): it opens from bucket tails and the log's
/// checkpoint, appends continue every chain and the log, and everything verifies afterwards.
/// </summary>
public sealed class LedgerStartupTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _admin = "adm-" + Guid.NewGuid().ToString("N");

    public void Dispose() => _dir.Dispose();

    [Test]
    public async Task Serve_on_a_prebuilt_ledger_continues_its_chains_and_log_and_verify_all_passes()
    {
        // The ledger: 3 runs of 1,500 records, written by the real ledger code and closed cleanly.
        for (int run = 0; run < 3; run++)
        {
            CliResult stress = await Run("audit", "stress", "--count", "1500", "--producers", "8", "--run", $"pre-{run}");
            await Assert.That(stress.ExitCode).IsEqualTo(0).Because(stress.ToString());
        }

        string logDir = Path.Combine(_dir.StateRoot, "external-action-log");
        string kept = _dir.File("kept-checkpoint");
        File.Copy(Path.Combine(logDir, "checkpoint"), kept);
        await Assert.That(File.Exists(Path.Combine(logDir, "closed"))).IsTrue();

        DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--http-admin-token", _admin]);
        using HttpClient admin = daemon.Client(_admin);
        using (JsonDocument ready = JsonDocument.Parse(await (await admin.GetAsync("/readyz")).Content.ReadAsStringAsync()))
        {
            await Assert.That(ready.RootElement.GetProperty("status").GetString()).IsEqualTo("ready");
        }

        await Assert.That(File.Exists(Path.Combine(logDir, "closed"))).IsFalse();
        foreach (string run in new[] { "pre-1", "fresh" })
        {
            HttpResponseMessage probe = await admin.PostAsync("/v1/runtime/audit/test-action",
                new StringContent("{\"run_id\":\"" + run + "\",\"target\":\"after-restart\"}", Encoding.UTF8, "application/json"));
            await Assert.That(probe.StatusCode).IsEqualTo(HttpStatusCode.OK);
        }

        await daemon.StopAsync();
        await daemon.DisposeAsync();

        CliResult key = await Run("audit", "public-key");
        CliResult verify = await Run("runs", "verify", "--all", "--public-key", key.Stdout.Trim());
        CliResult since = await Run("runs", "verify", "--all", "--since-checkpoint", kept);
        CliResult listed = await Run("-o", "json", "runs", "external-actions", "pre-1", "--offline");

        await Assert.That(verify.ExitCode).IsEqualTo(0).Because(verify.ToString());
        await Assert.That(since.ExitCode).IsEqualTo(0).Because(since.ToString());
        using JsonDocument doc = JsonDocument.Parse(listed.Stdout);
        JsonElement records = doc.RootElement.GetProperty("external_actions");
        await Assert.That(records.GetArrayLength()).IsEqualTo(1502);
        await Assert.That(records[1500].GetProperty("target").GetString()).IsEqualTo("after-restart");
        await Assert.That(records[1500].GetProperty("prev_hash").GetString()).IsEqualTo(records[1499].GetProperty("record_hash").GetString());
        // The clean stop's checkpoint covers every record of every bucket, the new ones included.
        long lines = Directory.EnumerateFiles(Path.Combine(_dir.StateRoot, "external-actions"), "*.jsonl").Sum(f => File.ReadAllLines(f).Length);
        string[] checkpoint = File.ReadAllLines(Path.Combine(logDir, "checkpoint"));
        await Assert.That(lines).IsEqualTo(4504);
        await Assert.That(long.Parse(checkpoint[1], System.Globalization.CultureInfo.InvariantCulture)).IsEqualTo(lines);
    }

    [Test]
    public async Task A_bucket_damaged_while_the_daemon_was_down_shows_in_readyz_without_an_append()
    {
        for (int run = 0; run < 2; run++)
        {
            CliResult stress = await Run("audit", "stress", "--count", "200", "--producers", "4", "--run", $"pre-{run}");
            await Assert.That(stress.ExitCode).IsEqualTo(0).Because(stress.ToString());
        }

        string bucket = Path.Combine(_dir.StateRoot, "external-actions", "pre-1.jsonl");
        List<string> lines = File.ReadAllLines(bucket).ToList();
        lines[^1] = lines[^1].Replace("stress://local", "stress://other", StringComparison.Ordinal);
        File.WriteAllText(bucket, string.Concat(lines.Select(l => l + "\n")));

        await using DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--http-admin-token", _admin]);
        using HttpClient client = daemon.Client();
        // The background check after start reaches the bucket; nothing is appended to it.
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        HttpResponseMessage ready;
        while ((ready = await client.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        using JsonDocument body = JsonDocument.Parse(await ready.Content.ReadAsStringAsync());
        await Assert.That(ready.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        await Assert.That(body.RootElement.GetProperty("checks").GetProperty("external_action_audit").GetString()).Contains("1 bucket(s)");
    }

    private Task<CliResult> Run(params string[] args) => Support.Cli.RunAsync(["--state-root", _dir.StateRoot, .. args]);
}
