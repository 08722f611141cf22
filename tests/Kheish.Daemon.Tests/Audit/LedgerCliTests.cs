using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Audit;

/// <summary>runs verify / runs external-actions / audit public-key on the real binary.</summary>
public sealed class LedgerCliTests : IDisposable
{
    // RFC 8032 TEST 1: the seed and its public key.
    private const string SeedHex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    private const string PublicHex = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string RecordFile(string run) => Path.Combine(_dir.StateRoot, "external-actions", run + ".jsonl");

    private Task<CliResult> Run(params string[] args) => Support.Cli.RunAsync(["--state-root", _dir.StateRoot, .. args]);

    private async Task<string> FillAsync(string run, int count)
    {
        CliResult stress = await Run("audit", "stress", "--count", count.ToString(), "--producers", "2", "--run", run);
        await Assert.That(stress.ExitCode == 0).IsTrue();
        CliResult key = await Run("audit", "public-key");
        await Assert.That(key.ExitCode).IsEqualTo(0);
        return key.Stdout.Trim();
    }

    [Test]
    public async Task Audit_public_key_prints_the_key_derived_from_the_env_seed()
    {
        CliResult result = await Support.Cli.RunAsync(
            ["--state-root", _dir.StateRoot, "audit", "public-key"],
            new Dictionary<string, string?> { ["KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY"] = SeedHex });

        await Assert.That(result.ExitCode).IsEqualTo(0);
        await Assert.That(result.Stdout.Trim()).IsEqualTo(PublicHex);
        Canary.AssertAbsent(SeedHex, result.All, "audit public-key output");
    }

    [Test]
    public async Task Audit_public_key_with_both_key_variables_fails_and_names_them()
    {
        CliResult result = await Support.Cli.RunAsync(
            ["--state-root", _dir.StateRoot, "-o", "json", "audit", "public-key"],
            new Dictionary<string, string?>
            {
                ["KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY"] = SeedHex,
                ["KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY_FILE"] = "/tmp/x",
            });

        await Assert.That(result.ExitCode).IsNotEqualTo(0);
        using JsonDocument doc = JsonDocument.Parse(result.Stdout);
        await Assert.That(doc.RootElement.GetProperty("error").GetProperty("code").GetString()).IsEqualTo("audit_signing_key_conflict");
        Canary.AssertAbsent(SeedHex, result.All, "error output");
    }

    [Test]
    public async Task Runs_verify_all_with_the_pinned_key_prints_ok_with_counts()
    {
        string key = await FillAsync("run-1", 12);

        CliResult result = await Run("runs", "verify", "--all", "--public-key", key);

        await Assert.That(result.ExitCode == 0).IsTrue();
        await Assert.That(result.Stdout).StartsWith($"OK: 1 bucket(s), 12 record(s) verified; signed by pinned key {key}");
    }

    [Test]
    public async Task Runs_verify_reads_the_pinned_key_from_a_file_and_prints_json()
    {
        string key = await FillAsync("run-1", 3);
        File.WriteAllText(_dir.File("pub"), key + "\n");

        CliResult result = await Run("-o", "json", "runs", "verify", "run-1", "--public-key-file", _dir.File("pub"));

        await Assert.That(result.ExitCode).IsEqualTo(0);
        using JsonDocument doc = JsonDocument.Parse(result.Stdout);
        await Assert.That(doc.RootElement.GetProperty("ok").GetBoolean()).IsTrue();
        await Assert.That(doc.RootElement.GetProperty("records").GetInt64()).IsEqualTo(3);
        await Assert.That(doc.RootElement.GetProperty("pinned_key_id").GetString()).IsEqualTo(key);
    }

    [Test]
    public async Task Runs_verify_reports_the_first_tampered_record_and_exits_1()
    {
        await FillAsync("run-1", 5);
        string[] lines = File.ReadAllLines(RecordFile("run-1"));
        lines[3] = lines[3].Replace("stress://local", "stress://elsewhere");
        File.WriteAllText(RecordFile("run-1"), string.Join("\n", lines) + "\n");

        CliResult result = await Run("runs", "verify", "run-1");
        CliResult json = await Run("-o", "json", "runs", "verify", "--all");

        await Assert.That(result.ExitCode).IsEqualTo(1);
        await Assert.That(result.Stdout).StartsWith("FAILED: bucket run-1, record 3 (line 4): hash_mismatch:");
        await Assert.That(json.ExitCode).IsEqualTo(1);
        using JsonDocument doc = JsonDocument.Parse(json.Stdout);
        await Assert.That(doc.RootElement.GetProperty("ok").GetBoolean()).IsFalse();
        await Assert.That(doc.RootElement.GetProperty("first_failure").GetProperty("index").GetInt64()).IsEqualTo(3);
    }

    [Test]
    public async Task Runs_verify_with_another_pinned_key_exits_1()
    {
        await FillAsync("run-1", 2);

        CliResult result = await Run("runs", "verify", "--all", "--public-key", PublicHex);

        await Assert.That(result.ExitCode).IsEqualTo(1);
        await Assert.That(result.Stdout).Contains("key_mismatch");
    }

    [Test]
    public async Task Runs_verify_needs_exactly_one_of_run_id_and_all()
    {
        CliResult both = await Run("runs", "verify", "run-1", "--all");
        CliResult neither = await Run("runs", "verify");

        await Assert.That(both.ExitCode).IsEqualTo(2);
        await Assert.That(neither.ExitCode).IsEqualTo(2);
    }

    [Test]
    public async Task Runs_verify_an_unknown_run_exits_not_found()
    {
        await FillAsync("run-1", 1);

        CliResult result = await Run("runs", "verify", "nope");

        await Assert.That(result.ExitCode).IsEqualTo(5);
    }

    [Test]
    public async Task Runs_external_actions_offline_lists_the_records_as_json()
    {
        await FillAsync("run-1", 4);

        CliResult result = await Run("-o", "json", "runs", "external-actions", "run-1", "--offline");

        await Assert.That(result.ExitCode).IsEqualTo(0);
        using JsonDocument doc = JsonDocument.Parse(result.Stdout);
        await Assert.That(doc.RootElement.GetProperty("run_id").GetString()).IsEqualTo("run-1");
        await Assert.That(doc.RootElement.GetProperty("count").GetInt32()).IsEqualTo(4);
        JsonElement first = doc.RootElement.GetProperty("external_actions")[0];
        await Assert.That(first.GetProperty("kind").GetString()).IsEqualTo("probe");
        await Assert.That(first.GetProperty("action_id").GetString()).IsEqualTo(first.GetProperty("record_hash").GetString());
        await Assert.That(first.TryGetProperty("prev_hash", out _)).IsFalse();
    }

    [Test]
    public async Task Runs_external_actions_without_offline_points_to_offline_for_now()
    {
        CliResult result = await Run("runs", "external-actions", "run-1");

        await Assert.That(result.ExitCode).IsEqualTo(3);
        await Assert.That(result.Stderr).Contains("--offline");
    }

    [Test]
    public async Task Runs_external_actions_for_an_unknown_run_exits_not_found()
    {
        CliResult result = await Run("runs", "external-actions", "nope", "--offline");

        await Assert.That(result.ExitCode).IsEqualTo(5);
    }

    [Test]
    public async Task The_stress_verb_is_hidden_from_help()
    {
        CliResult help = await Support.Cli.RunAsync("audit", "--help");

        await Assert.That(help.Stdout).Contains("public-key");
        await Assert.That(help.Stdout).DoesNotContain("stress");
    }

    [Test]
    public async Task A_ledger_whose_key_file_is_gone_refuses_to_start_appending()
    {
        await FillAsync("run-1", 1);
        File.Delete(Path.Combine(_dir.StateRoot, "audit-signing.key"));

        CliResult result = await Run("audit", "stress", "--count", "1", "--run", "run-1");

        await Assert.That(result.ExitCode).IsEqualTo(1);
        await Assert.That(result.Stderr).Contains("already has records");
        await Assert.That(File.Exists(Path.Combine(_dir.StateRoot, "audit-signing.key"))).IsFalse();
    }
}
