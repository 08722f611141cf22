using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Audit;

/// <summary>
/// State written by the v0.1 binary (commit f2e81d5, Ed25519 through OpenSSL) is read by today's
/// binary: its ledger verifies against the old key, its store and broker state decrypt with the
/// old master key, and new records chain onto the old ones. The data is generated once by
/// scripts/make-compat-state.sh and committed under TestData/compat-v0.1 (test values only).
/// </summary>
public sealed class CompatStateTests : IDisposable
{
    private static readonly string DataDir = Path.Combine(DaemonBinary.RepoRoot, "tests", "Kheish.Daemon.Tests", "TestData", "compat-v0.1");

    private readonly TempDir _dir = new();
    private readonly JsonElement _manifest;

    public CompatStateTests()
    {
        _manifest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(DataDir, "manifest.json"))).RootElement;
        CopyState(Path.Combine(DataDir, "state"), _dir.StateRoot);
    }

    private string MasterKey => _manifest.GetProperty("master_key").GetString()!;

    private string PublicKey => _manifest.GetProperty("public_key").GetString()!;

    public void Dispose() => _dir.Dispose();

    [Test]
    public async Task The_old_ledger_verifies_against_its_pinned_key()
    {
        CliResult r = await RunAsync("runs", "verify", "--all", "--public-key", PublicKey);

        await Assert.That(r.ExitCode).IsEqualTo(0).Because(r.ToString());
        await Assert.That(r.Stdout).StartsWith($"OK: 3 bucket(s), 8 record(s) verified; signed by pinned key {PublicKey}");
    }

    [Test]
    public async Task The_old_signing_key_file_gives_the_same_public_key()
    {
        CliResult r = await RunAsync("audit", "public-key");

        await Assert.That(r.ExitCode).IsEqualTo(0).Because(r.ToString());
        await Assert.That(r.Stdout.Trim()).IsEqualTo(PublicKey);
    }

    [Test]
    public async Task The_old_store_decrypts_with_the_old_master_key()
    {
        CliResult list = await RunAsync("secrets", "list", "--offline", "-o", "json");
        CliResult get = await RunAsync("secrets", "get", "compat.openai", "--offline", "-o", "json");

        await Assert.That(list.ExitCode).IsEqualTo(0).Because(list.ToString());
        await Assert.That(list.Stdout).Contains("\"compat.openai\"");
        await Assert.That(list.Stdout).Contains("\"compat.generic\"");
        await Assert.That(get.ExitCode).IsEqualTo(0).Because(get.ToString());
        await Assert.That(get.Stdout.Replace(" ", "")).Contains("\"provider\":\"openai\"");
        AssertNoSlotValue(list.All + get.All);
    }

    [Test]
    public async Task The_old_store_refuses_another_master_key()
    {
        string other = Convert.ToBase64String(new byte[32]);

        CliResult r = await RunAsync(["secrets", "list", "--offline"], other);

        await Assert.That(r.ExitCode).IsNotEqualTo(0);
        AssertNoSlotValue(r.All);
    }

    [Test]
    public async Task The_old_broker_state_still_holds_the_revoked_subject()
    {
        CliResult r = await RunAsync("runtime", "auth", "subject", "agent:compat-revoked", "--offline", "-o", "json");

        await Assert.That(r.ExitCode).IsEqualTo(0).Because(r.ToString());
        using JsonDocument status = JsonDocument.Parse(r.Stdout);
        await Assert.That(status.RootElement.GetProperty("revoked").GetBoolean()).IsTrue().Because(r.Stdout);
        await Assert.That(status.RootElement.GetProperty("current_epoch").GetInt64()).IsGreaterThanOrEqualTo(1L).Because(r.Stdout);
    }

    [Test]
    public async Task The_new_daemon_appends_to_the_old_ledger_and_it_still_verifies()
    {
        const string token = "compat-test-admin-token-0123456789abcdef";
        await File.WriteAllTextAsync(_dir.File("admin.token"), token);
        await using (DaemonProcess daemon = await DaemonProcess.StartAsync(
            _dir.StateRoot,
            ["--http-admin-token-file", _dir.File("admin.token")],
            new Dictionary<string, string?> { ["KHEISH_AUTH_STORE_MASTER_KEY"] = MasterKey }))
        {
            using HttpClient admin = daemon.Client(token);
            using var body = new StringContent("{\"run_id\":\"compat-run-1\",\"target\":\"after-upgrade\"}", Encoding.UTF8, "application/json");
            HttpResponseMessage appended = await admin.PostAsync("/v1/runtime/audit/test-action", body);
            await Assert.That(appended.StatusCode).IsEqualTo(HttpStatusCode.OK);

            using JsonDocument status = JsonDocument.Parse(await admin.GetStringAsync("/v1/status"));
            await Assert.That(status.RootElement.GetProperty("audit_key_id").GetString()).IsEqualTo(PublicKey);
            await Assert.That(status.RootElement.GetProperty("ed25519_backend").GetString()).StartsWith("NSec.Cryptography 26.4.0, libsodium 1.0.22");
            await Assert.That(status.RootElement.GetProperty("master_key_configured").GetBoolean()).IsTrue();
            await Assert.That(status.RootElement.GetProperty("unavailable_audit_buckets").GetArrayLength()).IsEqualTo(0);
            await daemon.StopAsync();
            AssertNoSlotValue(daemon.Logs);
        }

        CliResult verify = await RunAsync("runs", "verify", "compat-run-1", "--public-key", PublicKey, "-o", "json");
        CliResult all = await RunAsync("runs", "verify", "--all", "--public-key", PublicKey);

        await Assert.That(verify.ExitCode).IsEqualTo(0).Because(verify.ToString());
        using JsonDocument report = JsonDocument.Parse(verify.Stdout);
        await Assert.That(report.RootElement.GetProperty("records").GetInt32()).IsEqualTo(6);
        await Assert.That(all.ExitCode).IsEqualTo(0).Because(all.ToString());
        await Assert.That(all.Stdout).StartsWith("OK: 3 bucket(s), 10 record(s) verified");
    }

    private Task<CliResult> RunAsync(params string[] args) => RunAsync(args, MasterKey);

    private Task<CliResult> RunAsync(string[] args, string masterKey) =>
        Support.Cli.RunAsync(
            ["--state-root", _dir.StateRoot, .. args],
            new Dictionary<string, string?> { ["KHEISH_AUTH_STORE_MASTER_KEY"] = masterKey });

    private void AssertNoSlotValue(string text)
    {
        foreach (JsonProperty slot in _manifest.GetProperty("slots").EnumerateObject())
        {
            Canary.AssertAbsent(slot.Value.GetString()!, text, "compat command output");
        }
    }

    /// <summary>Git keeps neither 0700 nor 0600: restore the modes the daemon writes.</summary>
    private static void CopyState(string from, string to)
    {
        Directory.CreateDirectory(to);
        File.SetUnixFileMode(to, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        foreach (string dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, dir));
            Directory.CreateDirectory(target);
            File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(from, file));
            File.Copy(file, target);
            File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }
}
