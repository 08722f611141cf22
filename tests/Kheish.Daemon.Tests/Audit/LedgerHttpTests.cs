using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Audit;

/// <summary>The ledger through a real daemon: probe actions, listing, verification, pinning.</summary>
public sealed class LedgerHttpTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _admin = "adm-" + Guid.NewGuid().ToString("N");
    private readonly string _readonly = "ro-" + Guid.NewGuid().ToString("N");

    [Test]
    public async Task Probe_actions_are_listed_to_read_only_callers_and_verify_after_stop()
    {
        DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--http-admin-token", _admin, "--http-readonly-token", _readonly]);
        using HttpClient admin = daemon.Client(_admin);
        using HttpClient ro = daemon.Client(_readonly);
        for (int i = 0; i < 3; i++)
        {
            HttpResponseMessage probe = await admin.PostAsync("/v1/runtime/audit/test-action",
                new StringContent("{\"run_id\":\"run-42\",\"target\":\"probe-" + i + "\"}", Encoding.UTF8, "application/json"));
            await Assert.That(probe.StatusCode).IsEqualTo(HttpStatusCode.OK);
        }

        using JsonDocument listing = JsonDocument.Parse(await ro.GetStringAsync("/v1/runs/run-42/external-actions"));
        var env = new Dictionary<string, string?> { ["KHEISH_DAEMON_URL"] = daemon.BaseUri.ToString(), ["KHEISH_DAEMON_TOKEN"] = _readonly };
        CliResult cli = await Support.Cli.RunAsync(["runs", "external-actions", "run-42", "-o", "json"], env);
        CliResult key = await Support.Cli.RunAsync(["audit", "public-key", "--state-root", _dir.StateRoot]);
        await daemon.StopAsync();
        await daemon.DisposeAsync();
        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", _dir.StateRoot, "--public-key", key.Stdout.Trim()]);

        JsonElement records = listing.RootElement.GetProperty("external_actions");
        await Assert.That(records.GetArrayLength()).IsEqualTo(6);
        await Assert.That(records[0].GetProperty("phase").GetString()).IsEqualTo("started");
        await Assert.That(records[1].GetProperty("phase").GetString()).IsEqualTo("completed");
        await Assert.That(records[1].GetProperty("prev_hash").GetString()).IsEqualTo(records[0].GetProperty("record_hash").GetString());
        await Assert.That(cli.ExitCode == 0).IsTrue();
        await Assert.That(cli.Stdout).Contains("run-42");
        await Assert.That(verify.ExitCode == 0).IsTrue();
    }

    [Test]
    public async Task Serve_refuses_to_start_when_records_exist_but_the_signing_key_is_gone()
    {
        DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot);
        using (HttpClient client = daemon.Client())
        {
            await client.PostAsync("/v1/runtime/audit/test-action", new StringContent("{}", Encoding.UTF8, "application/json"));
        }

        await daemon.StopAsync();
        await daemon.DisposeAsync();
        File.Delete(Path.Combine(_dir.StateRoot, "audit-signing.key"));

        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(_dir.StateRoot, []);

        await Assert.That(r.ExitCode).IsNotEqualTo(0);
        await Assert.That(r.Stderr).Contains("audit-signing.key");
    }

    public void Dispose() => _dir.Dispose();
}
