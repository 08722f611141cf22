using System.Text;
using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Secrets;

/// <summary>Every bad input gets its own message and exit code, and the store file stays byte-for-byte the same.</summary>
public sealed class SecretsBadInputTests
{
    private static async Task<SecretsHarness> WithOneSlot()
    {
        var h = new SecretsHarness();
        await h.SetOk("existing", "sk-existing");
        return h;
    }

    private static string ErrorCode(CliResult r)
    {
        using var doc = JsonDocument.Parse(r.Stdout);
        return doc.RootElement.GetProperty("error").GetProperty("code").GetString()!;
    }

    private static string[] Set(params string[] extra) => ["set", "new", "--provider", "openai", "--offline", "--output", "json", .. extra];

    [Test]
    public async Task A_wrong_master_key_names_both_key_ids_and_exits_1()
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();
        var other = MasterKey.Generate();
        var env = new Dictionary<string, string?> { [MasterKey.ValueVariable] = Convert.ToBase64String(other.Bytes), ["V"] = "x" };

        CliResult r = await h.RunWith(env, null, Set("--from-env", "V"));

        await Assert.That(r.ExitCode).IsEqualTo(1);
        await Assert.That(ErrorCode(r)).IsEqualTo("wrong_master_key");
        await Assert.That(r.Stderr).Contains($"is encrypted with key id {h.Key.KeyId}; the configured key has id {other.KeyId}");
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(before, CollectionOrdering.Matching);
    }

    [Test]
    public async Task A_flipped_byte_is_refused_as_tampered_and_exits_1()
    {
        using var h = await WithOneSlot();
        byte[] file = h.SlotsBytes();
        int at = Encoding.UTF8.GetString(file).IndexOf("\"ciphertext\":\"", StringComparison.Ordinal) + 20;
        file[at] = (byte)(file[at] == 'A' ? 'B' : 'A');
        File.WriteAllBytes(h.SlotsFile, file);

        CliResult r = await h.Run("list", "--offline", "--output", "json");
        CliResult w = await h.RunWith(new(h.Env) { ["V"] = "x" }, null, Set("--from-env", "V"));

        await Assert.That(r.ExitCode).IsEqualTo(1);
        await Assert.That(ErrorCode(r)).IsEqualTo("envelope_tampered");
        await Assert.That(w.ExitCode).IsEqualTo(1);
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(file, CollectionOrdering.Matching);
    }

    [Test]
    public async Task An_unknown_envelope_version_exits_8()
    {
        using var h = await WithOneSlot();
        byte[] file = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(h.SlotsBytes()).Replace("\"version\":1", "\"version\":9", StringComparison.Ordinal));
        File.WriteAllBytes(h.SlotsFile, file);

        CliResult r = await h.RunWith(new(h.Env) { ["V"] = "x" }, null, Set("--from-env", "V"));

        await Assert.That(r.ExitCode).IsEqualTo(8);
        await Assert.That(ErrorCode(r)).IsEqualTo("envelope_version_unsupported");
        await Assert.That(r.Stderr).Contains("envelope version 9");
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(file, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Truncated_json_is_reported_as_corrupt_naming_the_file()
    {
        using var h = await WithOneSlot();
        byte[] file = h.SlotsBytes()[..40];
        File.WriteAllBytes(h.SlotsFile, file);

        CliResult r = await h.RunWith(new(h.Env) { ["V"] = "x" }, null, Set("--from-env", "V"));

        await Assert.That(r.ExitCode).IsEqualTo(1);
        await Assert.That(ErrorCode(r)).IsEqualTo("state_file_corrupt");
        await Assert.That(r.Stderr).Contains(h.SlotsFile);
        await Assert.That(r.Stderr).Contains("Restore it from a backup");
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(file, CollectionOrdering.Matching);
    }

    [Test]
    public async Task A_write_without_a_master_key_says_how_to_set_one_and_creates_nothing()
    {
        using var h = new SecretsHarness();

        CliResult r = await h.RunWith(new() { ["V"] = "x" }, null, Set("--from-env", "V"));

        await Assert.That(r.ExitCode).IsEqualTo(1);
        await Assert.That(ErrorCode(r)).IsEqualTo("master_key_required");
        await Assert.That(r.Stderr).Contains(MasterKey.ValueVariable);
        await Assert.That(Directory.Exists(h.Root.FullPath)).IsFalse();
    }

    [Test]
    public async Task A_write_without_a_master_key_leaves_a_legacy_file_unchanged()
    {
        using var h = new SecretsHarness();
        Directory.CreateDirectory(h.Root.AuthDirectory);
        File.WriteAllText(h.SlotsFile, """{"slots":{}}""");

        CliResult r = await h.RunWith(new() { ["V"] = "x" }, null, Set("--from-env", "V"));

        await Assert.That(ErrorCode(r)).IsEqualTo("master_key_required");
        await Assert.That(File.ReadAllText(h.SlotsFile)).IsEqualTo("""{"slots":{}}""");
    }

    [Test]
    public async Task An_invalid_master_key_is_reported_precisely()
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();

        CliResult r = await h.RunWith(new() { [MasterKey.ValueVariable] = "too-short" }, null, "list", "--offline", "--output", "json");

        await Assert.That(r.ExitCode).IsEqualTo(1);
        await Assert.That(ErrorCode(r)).IsEqualTo("master_key_invalid");
        await Assert.That(r.All).DoesNotContain("too-short");
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(before, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Both_master_key_variables_are_refused()
    {
        using var h = await WithOneSlot();

        CliResult r = await h.RunWith(new(h.Env) { [MasterKey.FileVariable] = "/dev/null" }, null, "list", "--offline", "--output", "json");

        await Assert.That(r.ExitCode).IsEqualTo(1);
        await Assert.That(ErrorCode(r)).IsEqualTo("master_key_conflict");
    }

    [Test]
    public async Task An_empty_value_is_refused_with_exit_2()
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();

        CliResult r = await h.RunWith(null, "\n", Set("--stdin"));

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(ErrorCode(r)).IsEqualTo("secret_value_empty");
        await Assert.That(r.Stderr).Contains("standard input");
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(before, CollectionOrdering.Matching);
    }

    [Test]
    public async Task From_env_and_stdin_together_are_refused_with_exit_2()
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();

        CliResult r = await h.RunWith(new(h.Env) { ["V"] = "x" }, "y", Set("--from-env", "V", "--stdin"));

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(ErrorCode(r)).IsEqualTo("secret_source_ambiguous");
        await Assert.That(r.Stderr).Contains("--from-env and --stdin were both given");
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(before, CollectionOrdering.Matching);
    }

    [Test]
    public async Task No_value_source_is_refused_with_exit_2()
    {
        using var h = await WithOneSlot();

        CliResult r = await h.Run(Set());

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(ErrorCode(r)).IsEqualTo("secret_source_ambiguous");
    }

    [Test]
    public async Task An_unset_environment_variable_is_refused_with_exit_2()
    {
        using var h = await WithOneSlot();

        CliResult r = await h.Run(Set("--from-env", "NOT_SET_ANYWHERE"));

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("NOT_SET_ANYWHERE");
    }

    [Test]
    public async Task A_missing_value_file_is_refused_naming_it()
    {
        using var h = await WithOneSlot();
        string missing = h.Dir.File("nope.txt");

        CliResult r = await h.Run(Set("--from-file", missing));

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains($"cannot read {missing}");
    }

    [Test]
    [Arguments("../escape")]
    [Arguments(".hidden")]
    [Arguments("a b")]
    public async Task An_invalid_slot_id_is_refused_with_exit_2(string id)
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();

        CliResult r = await h.RunWith(new(h.Env) { ["V"] = "x" }, null, "set", id, "--provider", "openai", "--from-env", "V", "--offline", "--output", "json");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(ErrorCode(r)).IsEqualTo("invalid_slot_id");
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(before, CollectionOrdering.Matching);
    }

    [Test]
    public async Task An_unknown_provider_is_a_usage_error()
    {
        using var h = await WithOneSlot();

        CliResult r = await h.Run("set", "k", "--provider", "nope", "--value", "x", "--offline");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("nope");
    }

    [Test]
    public async Task A_provider_mode_mismatch_is_refused()
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();

        CliResult r = await h.RunWith(new(h.Env) { ["V"] = "x" }, null, Set("--from-env", "V", "--mode", "opaque_secret"));

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(ErrorCode(r)).IsEqualTo("invalid_slot_mode");
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(before, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Get_and_delete_of_a_missing_slot_exit_5()
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();

        CliResult get = await h.Run("get", "absent", "--offline", "--output", "json");
        CliResult delete = await h.Run("delete", "absent", "--offline", "--output", "json");

        await Assert.That(get.ExitCode).IsEqualTo(5);
        await Assert.That(ErrorCode(get)).IsEqualTo("slot_not_found");
        await Assert.That(delete.ExitCode).IsEqualTo(5);
        await Assert.That(h.SlotsBytes()).IsEquivalentTo(before, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Without_offline_the_daemon_is_unreachable_with_exit_3_and_a_hint()
    {
        using var h = new SecretsHarness();

        CliResult r = await h.Run("list", "--base-url", "http://127.0.0.1:9");

        await Assert.That(r.ExitCode).IsEqualTo(3);
        await Assert.That(r.Stderr).Contains("http://127.0.0.1:9");
        await Assert.That(r.Stderr).Contains("--offline");
    }
}
