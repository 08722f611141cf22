using System.Text.Json;
using System.Text.RegularExpressions;
using Kheish.Core.Access;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Security;

public sealed partial class SecurityCliTests : IDisposable
{
    private readonly SecurityEnv _env = new();

    [GeneratedRegex("kheish_[0-9a-f]{64}")]
    private static partial Regex KeyPattern();

    private async Task<(string Id, string Key)> GenerateAsync(params string[] extra)
    {
        CliResult r = await _env.RunAsync(["security", "generate-key", "--output", "json", .. extra]);
        await Assert.That(r.ExitCode == 0).IsTrue();
        using var doc = JsonDocument.Parse(r.Stdout);
        return (doc.RootElement.GetProperty("id").GetString()!, doc.RootElement.GetProperty("key").GetString()!);
    }

    [Test]
    public async Task Generate_key_prints_a_256_bit_key_once_and_stores_only_its_digest()
    {
        CliResult r = await _env.RunAsync("security", "generate-key", "--principal", "agent:claude", "--output", "json");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        using var doc = JsonDocument.Parse(r.Stdout);
        string key = doc.RootElement.GetProperty("key").GetString()!;
        await Assert.That(key).Matches("^kheish_[0-9a-f]{64}$");
        await Assert.That(doc.RootElement.GetProperty("principal").GetString()).IsEqualTo("agent:claude");
        await Assert.That(doc.RootElement.GetProperty("file").GetString()).IsEqualTo(_env.ProjectFile);
        string file = File.ReadAllText(_env.ProjectFile);
        await Assert.That(file).Contains(ApiKeys.FormatDigest(ApiKeys.Digest(key)));
        Canary.AssertAbsentFromFiles(key, _env.Dir);
    }

    [Test]
    public async Task Status_never_prints_a_key_in_either_output_format()
    {
        (string id, string key) = await GenerateAsync();

        CliResult pretty = await _env.RunAsync("security", "status");
        CliResult json = await _env.RunAsync("security", "status", "--output", "json");

        await Assert.That(pretty.ExitCode).IsEqualTo(0);
        await Assert.That(pretty.Stdout).Contains(id);
        await Assert.That(pretty.Stdout).Contains("strict");
        await Assert.That(pretty.Stdout).Contains(_env.ProjectFile);
        Canary.AssertAbsent(key, pretty.All, "status output");
        Canary.AssertAbsent(key, json.All, "status --output json");
        await Assert.That(json.All).DoesNotMatch(KeyPattern());
    }

    [Test]
    public async Task Status_flags_plaintext_keys_as_weak_and_an_edit_upgrades_them_to_digests()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_env.ProjectFile)!);
        File.WriteAllText(_env.ProjectFile, """{"mode":"strict","api_keys":["key-abc123-legacy"],"allowed_ips":["127.0.0.1","::1"]}""");

        CliResult status = await _env.RunAsync("security", "status", "--output", "json");
        await _env.RunAsync("security", "allow-ip", "10.0.0.0/8");

        using var doc = JsonDocument.Parse(status.Stdout);
        await Assert.That(doc.RootElement.GetProperty("keys")[0].GetProperty("weak").GetBoolean()).IsTrue();
        Canary.AssertAbsent("key-abc123-legacy", status.All, "status");
        Canary.AssertAbsentFromFiles("key-abc123-legacy", _env.Dir);
    }

    [Test]
    public async Task Revoke_key_by_id_removes_it_from_the_file()
    {
        (string id, string key) = await GenerateAsync();

        CliResult r = await _env.RunAsync("security", "revoke-key", id);

        await Assert.That(r.ExitCode).IsEqualTo(0);
        SecurityConfig config = SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value;
        await Assert.That(config.FindByDigest(ApiKeys.Digest(key))).IsNull();
    }

    [Test]
    public async Task Revoke_key_by_value_removes_it_and_never_echoes_the_value()
    {
        (_, string key) = await GenerateAsync();

        CliResult r = await _env.RunAsync("security", "revoke-key", key);
        CliResult again = await _env.RunAsync("security", "revoke-key", key);

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(again.ExitCode).IsEqualTo(5);
        Canary.AssertAbsent(key, r.All + again.All, "revoke output");
    }

    [Test]
    public async Task Allow_ip_rejects_a_bad_entry_with_the_reason_and_writes_nothing()
    {
        CliResult r = await _env.RunAsync("security", "allow-ip", "10.0.0.1/8");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("10.0.0.0/8");
        await Assert.That(File.Exists(_env.ProjectFile)).IsFalse();
    }

    [Test]
    public async Task Allow_ip_stores_the_canonical_form_of_a_mapped_address()
    {
        CliResult r = await _env.RunAsync("security", "allow-ip", "::ffff:192.168.1.9");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value.AllowedIps.Entries).IsEquivalentTo(["192.168.1.9"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Deny_ip_refuses_to_empty_the_allowlist_without_allow_empty()
    {
        await _env.RunAsync("security", "allow-ip", "127.0.0.1");

        CliResult refused = await _env.RunAsync("security", "deny-ip", "127.0.0.1");
        CliResult forced = await _env.RunAsync("security", "deny-ip", "127.0.0.1", "--allow-empty");

        await Assert.That(refused.ExitCode).IsEqualTo(6);
        await Assert.That(refused.Stderr).Contains("EVERY address");
        await Assert.That(forced.ExitCode).IsEqualTo(0);
        await Assert.That(SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value.AllowedIps.IsEmpty).IsTrue();
    }

    [Test]
    public async Task Set_mode_rejects_an_unknown_mode()
    {
        CliResult r = await _env.RunAsync("security", "set-mode", "open");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(File.Exists(_env.ProjectFile)).IsFalse();
    }

    [Test]
    public async Task Set_mode_strict_on_a_fresh_project_writes_an_explicit_file()
    {
        CliResult r = await _env.RunAsync("security", "set-mode", "strict");

        await Assert.That(r.ExitCode).IsEqualTo(0);
        await Assert.That(SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value.Mode).IsEqualTo(SecurityMode.Strict);
        await Assert.That(r.Stderr).Contains("no keys");
    }

    [Test]
    public async Task The_project_file_is_reported_in_effect_over_the_global_file()
    {
        await _env.RunAsync("security", "set-mode", "lax", "--global");
        await _env.RunAsync("security", "set-mode", "relaxed", "--project-root", _env.Project);

        CliResult r = await _env.RunAsync("security", "status", "--output", "json");

        using var doc = JsonDocument.Parse(r.Stdout);
        await Assert.That(doc.RootElement.GetProperty("origin").GetString()).IsEqualTo("project");
        await Assert.That(doc.RootElement.GetProperty("file").GetString()).IsEqualTo(_env.ProjectFile);
        await Assert.That(doc.RootElement.GetProperty("mode").GetString()).IsEqualTo("relaxed");
    }

    [Test]
    public async Task Without_a_project_file_edits_go_to_the_global_file_in_effect()
    {
        await _env.RunAsync("security", "set-mode", "relaxed", "--global");

        CliResult r = await _env.RunAsync("security", "allow-ip", "10.0.0.0/8", "--output", "json");

        using var doc = JsonDocument.Parse(r.Stdout);
        await Assert.That(doc.RootElement.GetProperty("file").GetString()).IsEqualTo(_env.GlobalFile);
        await Assert.That(File.Exists(_env.ProjectFile)).IsFalse();
    }

    [Test]
    public async Task Global_and_project_root_together_are_a_usage_error()
    {
        CliResult r = await _env.RunAsync("security", "status", "--global", "--project-root", _env.Project);

        await Assert.That(r.ExitCode).IsEqualTo(2);
    }

    [Test]
    public async Task Status_of_a_malformed_file_fails_and_names_the_file()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_env.ProjectFile)!);
        File.WriteAllText(_env.ProjectFile, """{"mode":"strcit"}""");

        CliResult r = await _env.RunAsync("security", "status", "--output", "json");

        await Assert.That(r.ExitCode).IsEqualTo(1);
        using var doc = JsonDocument.Parse(r.Stdout);
        await Assert.That(doc.RootElement.GetProperty("valid").GetBoolean()).IsFalse();
        await Assert.That(doc.RootElement.GetProperty("error").GetProperty("code").GetString()).IsEqualTo("config_invalid");
        await Assert.That(doc.RootElement.GetProperty("error").GetProperty("message").GetString()).Contains(_env.ProjectFile);
    }

    [Test]
    public async Task Edits_refuse_to_overwrite_a_malformed_file()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_env.ProjectFile)!);
        File.WriteAllText(_env.ProjectFile, "{broken");

        CliResult r = await _env.RunAsync("security", "generate-key");

        await Assert.That(r.ExitCode).IsEqualTo(1);
        await Assert.That(File.ReadAllText(_env.ProjectFile)).IsEqualTo("{broken");
        await Assert.That(r.All).DoesNotMatch(KeyPattern());
    }

    [Test]
    public async Task Generate_key_with_a_scope_file_stores_the_scope()
    {
        string scopeFile = _env.Dir.File("scope.json");
        File.WriteAllText(scopeFile, """{"route_allow":["openai"],"mcp_server_deny":["github"]}""");

        (string id, _) = await GenerateAsync("--scope-file", scopeFile);

        ApiKeyEntry entry = SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value.FindById(id)!;
        await Assert.That(entry.Scope!.RouteAllow!).IsEquivalentTo(["openai"], CollectionOrdering.Matching);
        await Assert.That(entry.Scope.McpServerDeny!).IsEquivalentTo(["github"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Generate_key_rejects_a_scope_file_with_an_unknown_list()
    {
        string scopeFile = _env.Dir.File("scope.json");
        File.WriteAllText(scopeFile, """{"routes":["openai"]}""");

        CliResult r = await _env.RunAsync("security", "generate-key", "--scope-file", scopeFile);

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("routes");
        await Assert.That(File.Exists(_env.ProjectFile)).IsFalse();
    }

    [Test]
    public async Task Concurrent_generate_key_commands_lose_no_key()
    {
        CliResult[] results = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => _env.RunAsync("security", "generate-key", "--output", "json")));

        foreach (CliResult r in results)
        {
            await Assert.That(r.ExitCode).IsEqualTo(0);
        }

        SecurityConfig config = SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value;
        foreach (CliResult r in results)
        {
            using var doc = JsonDocument.Parse(r.Stdout);
            await Assert.That(config.FindByDigest(ApiKeys.Digest(doc.RootElement.GetProperty("key").GetString()!))).IsNotNull();
        }
    }

    [Test]
    public async Task Written_files_are_0600_in_a_0700_directory()
    {
        await GenerateAsync();

        await Assert.That(File.GetUnixFileMode(_env.ProjectFile)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await Assert.That(File.GetUnixFileMode(Path.GetDirectoryName(_env.ProjectFile)!)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    [Test]
    public async Task Setup_with_yes_writes_mode_key_and_allowlist_without_questions()
    {
        CliResult r = await _env.RunAsync("security", "setup", "--yes", "--mode", "relaxed", "--generate-key", "--allow-ip", "10.1.0.0/16", "--allow-ip", "fd00::/8", "--output", "json");

        await Assert.That(r.ExitCode == 0).IsTrue();
        using var doc = JsonDocument.Parse(r.Stdout);
        string key = doc.RootElement.GetProperty("key").GetString()!;
        SecurityConfig config = SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value;
        await Assert.That(config.Mode).IsEqualTo(SecurityMode.Relaxed);
        await Assert.That(config.FindByDigest(ApiKeys.Digest(key))).IsNotNull();
        await Assert.That(config.AllowedIps.Entries).IsEquivalentTo(["127.0.0.1", "::1", "10.1.0.0/16", "fd00::/8"], CollectionOrdering.Matching);
        Canary.AssertAbsentFromFiles(key, _env.Dir);
    }

    [Test]
    public async Task Setup_cancelled_by_end_of_input_writes_nothing()
    {
        CliResult r = await _env.RunWithStdinAsync("1\n2\n", "security", "setup");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("nothing was written");
        await Assert.That(Directory.Exists(Path.GetDirectoryName(_env.ProjectFile))).IsFalse();
        await Assert.That(Directory.Exists(_env.Xdg)).IsFalse();
    }

    public void Dispose() => _env.Dispose();
}
