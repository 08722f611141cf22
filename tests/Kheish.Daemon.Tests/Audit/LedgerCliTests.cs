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
        Assert.True(stress.ExitCode == 0, stress.ToString());
        CliResult key = await Run("audit", "public-key");
        Assert.Equal(0, key.ExitCode);
        return key.Stdout.Trim();
    }

    [Fact]
    public async Task Audit_public_key_prints_the_key_derived_from_the_env_seed()
    {
        CliResult result = await Support.Cli.RunAsync(
            ["--state-root", _dir.StateRoot, "audit", "public-key"],
            new Dictionary<string, string?> { ["KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY"] = SeedHex });

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(PublicHex, result.Stdout.Trim());
        Canary.AssertAbsent(SeedHex, result.All, "audit public-key output");
    }

    [Fact]
    public async Task Audit_public_key_with_both_key_variables_fails_and_names_them()
    {
        CliResult result = await Support.Cli.RunAsync(
            ["--state-root", _dir.StateRoot, "-o", "json", "audit", "public-key"],
            new Dictionary<string, string?>
            {
                ["KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY"] = SeedHex,
                ["KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY_FILE"] = "/tmp/x",
            });

        Assert.NotEqual(0, result.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(result.Stdout);
        Assert.Equal("audit_signing_key_conflict", doc.RootElement.GetProperty("error").GetProperty("code").GetString());
        Canary.AssertAbsent(SeedHex, result.All, "error output");
    }

    [Fact]
    public async Task Runs_verify_all_with_the_pinned_key_prints_ok_with_counts()
    {
        string key = await FillAsync("run-1", 12);

        CliResult result = await Run("runs", "verify", "--all", "--public-key", key);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.StartsWith($"OK: 1 bucket(s), 12 record(s) verified; signed by pinned key {key}", result.Stdout);
    }

    [Fact]
    public async Task Runs_verify_reads_the_pinned_key_from_a_file_and_prints_json()
    {
        string key = await FillAsync("run-1", 3);
        File.WriteAllText(_dir.File("pub"), key + "\n");

        CliResult result = await Run("-o", "json", "runs", "verify", "run-1", "--public-key-file", _dir.File("pub"));

        Assert.Equal(0, result.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(result.Stdout);
        Assert.True(doc.RootElement.GetProperty("ok").GetBoolean());
        Assert.Equal(3, doc.RootElement.GetProperty("records").GetInt64());
        Assert.Equal(key, doc.RootElement.GetProperty("pinned_key_id").GetString());
    }

    [Fact]
    public async Task Runs_verify_reports_the_first_tampered_record_and_exits_1()
    {
        await FillAsync("run-1", 5);
        string[] lines = File.ReadAllLines(RecordFile("run-1"));
        lines[3] = lines[3].Replace("stress://local", "stress://elsewhere");
        File.WriteAllText(RecordFile("run-1"), string.Join("\n", lines) + "\n");

        CliResult result = await Run("runs", "verify", "run-1");
        CliResult json = await Run("-o", "json", "runs", "verify", "--all");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("FAILED: bucket run-1, record 3 (line 4): hash_mismatch:", result.Stdout);
        Assert.Equal(1, json.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(json.Stdout);
        Assert.False(doc.RootElement.GetProperty("ok").GetBoolean());
        Assert.Equal(3, doc.RootElement.GetProperty("first_failure").GetProperty("index").GetInt64());
    }

    [Fact]
    public async Task Runs_verify_with_another_pinned_key_exits_1()
    {
        await FillAsync("run-1", 2);

        CliResult result = await Run("runs", "verify", "--all", "--public-key", PublicHex);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("key_mismatch", result.Stdout);
    }

    [Fact]
    public async Task Runs_verify_needs_exactly_one_of_run_id_and_all()
    {
        CliResult both = await Run("runs", "verify", "run-1", "--all");
        CliResult neither = await Run("runs", "verify");

        Assert.Equal(2, both.ExitCode);
        Assert.Equal(2, neither.ExitCode);
    }

    [Fact]
    public async Task Runs_verify_an_unknown_run_exits_not_found()
    {
        await FillAsync("run-1", 1);

        CliResult result = await Run("runs", "verify", "nope");

        Assert.Equal(5, result.ExitCode);
    }

    [Fact]
    public async Task Runs_external_actions_offline_lists_the_records_as_json()
    {
        await FillAsync("run-1", 4);

        CliResult result = await Run("-o", "json", "runs", "external-actions", "run-1", "--offline");

        Assert.Equal(0, result.ExitCode);
        using JsonDocument doc = JsonDocument.Parse(result.Stdout);
        Assert.Equal("run-1", doc.RootElement.GetProperty("run_id").GetString());
        Assert.Equal(4, doc.RootElement.GetProperty("count").GetInt32());
        JsonElement first = doc.RootElement.GetProperty("external_actions")[0];
        Assert.Equal("probe", first.GetProperty("kind").GetString());
        Assert.Equal(first.GetProperty("record_hash").GetString(), first.GetProperty("action_id").GetString());
        Assert.False(first.TryGetProperty("prev_hash", out _));
    }

    [Fact]
    public async Task Runs_external_actions_without_offline_points_to_offline_for_now()
    {
        CliResult result = await Run("runs", "external-actions", "run-1");

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("--offline", result.Stderr);
    }

    [Fact]
    public async Task Runs_external_actions_for_an_unknown_run_exits_not_found()
    {
        CliResult result = await Run("runs", "external-actions", "nope", "--offline");

        Assert.Equal(5, result.ExitCode);
    }

    [Fact]
    public async Task The_stress_verb_is_hidden_from_help()
    {
        CliResult help = await Support.Cli.RunAsync("audit", "--help");

        Assert.Contains("public-key", help.Stdout);
        Assert.DoesNotContain("stress", help.Stdout);
    }

    [Fact]
    public async Task A_ledger_whose_key_file_is_gone_refuses_to_start_appending()
    {
        await FillAsync("run-1", 1);
        File.Delete(Path.Combine(_dir.StateRoot, "audit-signing.key"));

        CliResult result = await Run("audit", "stress", "--count", "1", "--run", "run-1");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("already has records", result.Stderr);
        Assert.False(File.Exists(Path.Combine(_dir.StateRoot, "audit-signing.key")));
    }
}
