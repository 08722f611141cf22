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

    [Fact]
    public async Task A_wrong_master_key_names_both_key_ids_and_exits_1()
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();
        var other = MasterKey.Generate();
        var env = new Dictionary<string, string?> { [MasterKey.ValueVariable] = Convert.ToBase64String(other.Bytes), ["V"] = "x" };

        CliResult r = await h.RunWith(env, null, Set("--from-env", "V"));

        Assert.Equal(1, r.ExitCode);
        Assert.Equal("wrong_master_key", ErrorCode(r));
        Assert.Contains($"is encrypted with key id {h.Key.KeyId}; the configured key has id {other.KeyId}", r.Stderr);
        Assert.Equal(before, h.SlotsBytes());
    }

    [Fact]
    public async Task A_flipped_byte_is_refused_as_tampered_and_exits_1()
    {
        using var h = await WithOneSlot();
        byte[] file = h.SlotsBytes();
        int at = Encoding.UTF8.GetString(file).IndexOf("\"ciphertext\":\"", StringComparison.Ordinal) + 20;
        file[at] = (byte)(file[at] == 'A' ? 'B' : 'A');
        File.WriteAllBytes(h.SlotsFile, file);

        CliResult r = await h.Run("list", "--offline", "--output", "json");
        CliResult w = await h.RunWith(new(h.Env) { ["V"] = "x" }, null, Set("--from-env", "V"));

        Assert.Equal(1, r.ExitCode);
        Assert.Equal("envelope_tampered", ErrorCode(r));
        Assert.Equal(1, w.ExitCode);
        Assert.Equal(file, h.SlotsBytes());
    }

    [Fact]
    public async Task An_unknown_envelope_version_exits_8()
    {
        using var h = await WithOneSlot();
        byte[] file = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(h.SlotsBytes()).Replace("\"version\":1", "\"version\":9", StringComparison.Ordinal));
        File.WriteAllBytes(h.SlotsFile, file);

        CliResult r = await h.RunWith(new(h.Env) { ["V"] = "x" }, null, Set("--from-env", "V"));

        Assert.Equal(8, r.ExitCode);
        Assert.Equal("envelope_version_unsupported", ErrorCode(r));
        Assert.Contains("envelope version 9", r.Stderr);
        Assert.Equal(file, h.SlotsBytes());
    }

    [Fact]
    public async Task Truncated_json_is_reported_as_corrupt_naming_the_file()
    {
        using var h = await WithOneSlot();
        byte[] file = h.SlotsBytes()[..40];
        File.WriteAllBytes(h.SlotsFile, file);

        CliResult r = await h.RunWith(new(h.Env) { ["V"] = "x" }, null, Set("--from-env", "V"));

        Assert.Equal(1, r.ExitCode);
        Assert.Equal("state_file_corrupt", ErrorCode(r));
        Assert.Contains(h.SlotsFile, r.Stderr);
        Assert.Contains("Restore it from a backup", r.Stderr);
        Assert.Equal(file, h.SlotsBytes());
    }

    [Fact]
    public async Task A_write_without_a_master_key_says_how_to_set_one_and_creates_nothing()
    {
        using var h = new SecretsHarness();

        CliResult r = await h.RunWith(new() { ["V"] = "x" }, null, Set("--from-env", "V"));

        Assert.Equal(1, r.ExitCode);
        Assert.Equal("master_key_required", ErrorCode(r));
        Assert.Contains(MasterKey.ValueVariable, r.Stderr);
        Assert.False(Directory.Exists(h.Root.FullPath));
    }

    [Fact]
    public async Task A_write_without_a_master_key_leaves_a_legacy_file_unchanged()
    {
        using var h = new SecretsHarness();
        Directory.CreateDirectory(h.Root.AuthDirectory);
        File.WriteAllText(h.SlotsFile, """{"slots":{}}""");

        CliResult r = await h.RunWith(new() { ["V"] = "x" }, null, Set("--from-env", "V"));

        Assert.Equal("master_key_required", ErrorCode(r));
        Assert.Equal("""{"slots":{}}""", File.ReadAllText(h.SlotsFile));
    }

    [Fact]
    public async Task An_invalid_master_key_is_reported_precisely()
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();

        CliResult r = await h.RunWith(new() { [MasterKey.ValueVariable] = "too-short" }, null, "list", "--offline", "--output", "json");

        Assert.Equal(1, r.ExitCode);
        Assert.Equal("master_key_invalid", ErrorCode(r));
        Assert.DoesNotContain("too-short", r.All);
        Assert.Equal(before, h.SlotsBytes());
    }

    [Fact]
    public async Task Both_master_key_variables_are_refused()
    {
        using var h = await WithOneSlot();

        CliResult r = await h.RunWith(new(h.Env) { [MasterKey.FileVariable] = "/dev/null" }, null, "list", "--offline", "--output", "json");

        Assert.Equal(1, r.ExitCode);
        Assert.Equal("master_key_conflict", ErrorCode(r));
    }

    [Fact]
    public async Task An_empty_value_is_refused_with_exit_2()
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();

        CliResult r = await h.RunWith(null, "\n", Set("--stdin"));

        Assert.Equal(2, r.ExitCode);
        Assert.Equal("secret_value_empty", ErrorCode(r));
        Assert.Contains("standard input", r.Stderr);
        Assert.Equal(before, h.SlotsBytes());
    }

    [Fact]
    public async Task From_env_and_stdin_together_are_refused_with_exit_2()
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();

        CliResult r = await h.RunWith(new(h.Env) { ["V"] = "x" }, "y", Set("--from-env", "V", "--stdin"));

        Assert.Equal(2, r.ExitCode);
        Assert.Equal("secret_source_ambiguous", ErrorCode(r));
        Assert.Contains("--from-env and --stdin were both given", r.Stderr);
        Assert.Equal(before, h.SlotsBytes());
    }

    [Fact]
    public async Task No_value_source_is_refused_with_exit_2()
    {
        using var h = await WithOneSlot();

        CliResult r = await h.Run(Set());

        Assert.Equal(2, r.ExitCode);
        Assert.Equal("secret_source_ambiguous", ErrorCode(r));
    }

    [Fact]
    public async Task An_unset_environment_variable_is_refused_with_exit_2()
    {
        using var h = await WithOneSlot();

        CliResult r = await h.Run(Set("--from-env", "NOT_SET_ANYWHERE"));

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("NOT_SET_ANYWHERE", r.Stderr);
    }

    [Fact]
    public async Task A_missing_value_file_is_refused_naming_it()
    {
        using var h = await WithOneSlot();
        string missing = h.Dir.File("nope.txt");

        CliResult r = await h.Run(Set("--from-file", missing));

        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"cannot read {missing}", r.Stderr);
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData(".hidden")]
    [InlineData("a b")]
    public async Task An_invalid_slot_id_is_refused_with_exit_2(string id)
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();

        CliResult r = await h.RunWith(new(h.Env) { ["V"] = "x" }, null, "set", id, "--provider", "openai", "--from-env", "V", "--offline", "--output", "json");

        Assert.Equal(2, r.ExitCode);
        Assert.Equal("invalid_slot_id", ErrorCode(r));
        Assert.Equal(before, h.SlotsBytes());
    }

    [Fact]
    public async Task An_unknown_provider_is_a_usage_error()
    {
        using var h = await WithOneSlot();

        CliResult r = await h.Run("set", "k", "--provider", "nope", "--value", "x", "--offline");

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("nope", r.Stderr);
    }

    [Fact]
    public async Task A_provider_mode_mismatch_is_refused()
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();

        CliResult r = await h.RunWith(new(h.Env) { ["V"] = "x" }, null, Set("--from-env", "V", "--mode", "opaque_secret"));

        Assert.Equal(2, r.ExitCode);
        Assert.Equal("invalid_slot_mode", ErrorCode(r));
        Assert.Equal(before, h.SlotsBytes());
    }

    [Fact]
    public async Task Get_and_delete_of_a_missing_slot_exit_5()
    {
        using var h = await WithOneSlot();
        byte[] before = h.SlotsBytes();

        CliResult get = await h.Run("get", "absent", "--offline", "--output", "json");
        CliResult delete = await h.Run("delete", "absent", "--offline", "--output", "json");

        Assert.Equal(5, get.ExitCode);
        Assert.Equal("slot_not_found", ErrorCode(get));
        Assert.Equal(5, delete.ExitCode);
        Assert.Equal(before, h.SlotsBytes());
    }

    [Fact]
    public async Task Without_offline_the_daemon_is_unreachable_with_exit_3_and_a_hint()
    {
        using var h = new SecretsHarness();

        CliResult r = await h.Run("list", "--base-url", "http://127.0.0.1:9");

        Assert.Equal(3, r.ExitCode);
        Assert.Contains("http://127.0.0.1:9", r.Stderr);
        Assert.Contains("--offline", r.Stderr);
    }
}
