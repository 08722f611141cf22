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
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        return (doc.RootElement.GetProperty("id").GetString()!, doc.RootElement.GetProperty("key").GetString()!);
    }

    [Fact]
    public async Task Generate_key_prints_a_256_bit_key_once_and_stores_only_its_digest()
    {
        CliResult r = await _env.RunAsync("security", "generate-key", "--principal", "agent:claude", "--output", "json");

        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        string key = doc.RootElement.GetProperty("key").GetString()!;
        Assert.Matches("^kheish_[0-9a-f]{64}$", key);
        Assert.Equal("agent:claude", doc.RootElement.GetProperty("principal").GetString());
        Assert.Equal(_env.ProjectFile, doc.RootElement.GetProperty("file").GetString());
        string file = File.ReadAllText(_env.ProjectFile);
        Assert.Contains(ApiKeys.FormatDigest(ApiKeys.Digest(key)), file);
        Canary.AssertAbsentFromFiles(key, _env.Dir);
    }

    [Fact]
    public async Task Status_never_prints_a_key_in_either_output_format()
    {
        (string id, string key) = await GenerateAsync();

        CliResult pretty = await _env.RunAsync("security", "status");
        CliResult json = await _env.RunAsync("security", "status", "--output", "json");

        Assert.Equal(0, pretty.ExitCode);
        Assert.Contains(id, pretty.Stdout);
        Assert.Contains("strict", pretty.Stdout);
        Assert.Contains(_env.ProjectFile, pretty.Stdout);
        Canary.AssertAbsent(key, pretty.All, "status output");
        Canary.AssertAbsent(key, json.All, "status --output json");
        Assert.DoesNotMatch(KeyPattern(), json.All);
    }

    [Fact]
    public async Task Status_flags_plaintext_keys_as_weak_and_an_edit_upgrades_them_to_digests()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_env.ProjectFile)!);
        File.WriteAllText(_env.ProjectFile, """{"mode":"strict","api_keys":["key-abc123-legacy"],"allowed_ips":["127.0.0.1","::1"]}""");

        CliResult status = await _env.RunAsync("security", "status", "--output", "json");
        await _env.RunAsync("security", "allow-ip", "10.0.0.0/8");

        using var doc = JsonDocument.Parse(status.Stdout);
        Assert.True(doc.RootElement.GetProperty("keys")[0].GetProperty("weak").GetBoolean());
        Canary.AssertAbsent("key-abc123-legacy", status.All, "status");
        Canary.AssertAbsentFromFiles("key-abc123-legacy", _env.Dir);
    }

    [Fact]
    public async Task Revoke_key_by_id_removes_it_from_the_file()
    {
        (string id, string key) = await GenerateAsync();

        CliResult r = await _env.RunAsync("security", "revoke-key", id);

        Assert.Equal(0, r.ExitCode);
        SecurityConfig config = SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value;
        Assert.Null(config.FindByDigest(ApiKeys.Digest(key)));
    }

    [Fact]
    public async Task Revoke_key_by_value_removes_it_and_never_echoes_the_value()
    {
        (_, string key) = await GenerateAsync();

        CliResult r = await _env.RunAsync("security", "revoke-key", key);
        CliResult again = await _env.RunAsync("security", "revoke-key", key);

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(5, again.ExitCode);
        Canary.AssertAbsent(key, r.All + again.All, "revoke output");
    }

    [Fact]
    public async Task Allow_ip_rejects_a_bad_entry_with_the_reason_and_writes_nothing()
    {
        CliResult r = await _env.RunAsync("security", "allow-ip", "10.0.0.1/8");

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("10.0.0.0/8", r.Stderr);
        Assert.False(File.Exists(_env.ProjectFile));
    }

    [Fact]
    public async Task Allow_ip_stores_the_canonical_form_of_a_mapped_address()
    {
        CliResult r = await _env.RunAsync("security", "allow-ip", "::ffff:192.168.1.9");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(["192.168.1.9"], SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value.AllowedIps.Entries);
    }

    [Fact]
    public async Task Deny_ip_refuses_to_empty_the_allowlist_without_allow_empty()
    {
        await _env.RunAsync("security", "allow-ip", "127.0.0.1");

        CliResult refused = await _env.RunAsync("security", "deny-ip", "127.0.0.1");
        CliResult forced = await _env.RunAsync("security", "deny-ip", "127.0.0.1", "--allow-empty");

        Assert.Equal(6, refused.ExitCode);
        Assert.Contains("EVERY address", refused.Stderr);
        Assert.Equal(0, forced.ExitCode);
        Assert.True(SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value.AllowedIps.IsEmpty);
    }

    [Fact]
    public async Task Set_mode_rejects_an_unknown_mode()
    {
        CliResult r = await _env.RunAsync("security", "set-mode", "open");

        Assert.Equal(2, r.ExitCode);
        Assert.False(File.Exists(_env.ProjectFile));
    }

    [Fact]
    public async Task Set_mode_strict_on_a_fresh_project_writes_an_explicit_file()
    {
        CliResult r = await _env.RunAsync("security", "set-mode", "strict");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(SecurityMode.Strict, SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value.Mode);
        Assert.Contains("no keys", r.Stderr);
    }

    [Fact]
    public async Task The_project_file_is_reported_in_effect_over_the_global_file()
    {
        await _env.RunAsync("security", "set-mode", "lax", "--global");
        await _env.RunAsync("security", "set-mode", "relaxed", "--project-root", _env.Project);

        CliResult r = await _env.RunAsync("security", "status", "--output", "json");

        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal("project", doc.RootElement.GetProperty("origin").GetString());
        Assert.Equal(_env.ProjectFile, doc.RootElement.GetProperty("file").GetString());
        Assert.Equal("relaxed", doc.RootElement.GetProperty("mode").GetString());
    }

    [Fact]
    public async Task Without_a_project_file_edits_go_to_the_global_file_in_effect()
    {
        await _env.RunAsync("security", "set-mode", "relaxed", "--global");

        CliResult r = await _env.RunAsync("security", "allow-ip", "10.0.0.0/8", "--output", "json");

        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(_env.GlobalFile, doc.RootElement.GetProperty("file").GetString());
        Assert.False(File.Exists(_env.ProjectFile));
    }

    [Fact]
    public async Task Global_and_project_root_together_are_a_usage_error()
    {
        CliResult r = await _env.RunAsync("security", "status", "--global", "--project-root", _env.Project);

        Assert.Equal(2, r.ExitCode);
    }

    [Fact]
    public async Task Status_of_a_malformed_file_fails_and_names_the_file()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_env.ProjectFile)!);
        File.WriteAllText(_env.ProjectFile, """{"mode":"strcit"}""");

        CliResult r = await _env.RunAsync("security", "status", "--output", "json");

        Assert.Equal(1, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.False(doc.RootElement.GetProperty("valid").GetBoolean());
        Assert.Equal("config_invalid", doc.RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains(_env.ProjectFile, doc.RootElement.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Edits_refuse_to_overwrite_a_malformed_file()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(_env.ProjectFile)!);
        File.WriteAllText(_env.ProjectFile, "{broken");

        CliResult r = await _env.RunAsync("security", "generate-key");

        Assert.Equal(1, r.ExitCode);
        Assert.Equal("{broken", File.ReadAllText(_env.ProjectFile));
        Assert.DoesNotMatch(KeyPattern(), r.All);
    }

    [Fact]
    public async Task Generate_key_with_a_scope_file_stores_the_scope()
    {
        string scopeFile = _env.Dir.File("scope.json");
        File.WriteAllText(scopeFile, """{"route_allow":["openai"],"mcp_server_deny":["github"]}""");

        (string id, _) = await GenerateAsync("--scope-file", scopeFile);

        ApiKeyEntry entry = SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value.FindById(id)!;
        Assert.Equal(["openai"], entry.Scope!.RouteAllow!);
        Assert.Equal(["github"], entry.Scope.McpServerDeny!);
    }

    [Fact]
    public async Task Generate_key_rejects_a_scope_file_with_an_unknown_list()
    {
        string scopeFile = _env.Dir.File("scope.json");
        File.WriteAllText(scopeFile, """{"routes":["openai"]}""");

        CliResult r = await _env.RunAsync("security", "generate-key", "--scope-file", scopeFile);

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("routes", r.Stderr);
        Assert.False(File.Exists(_env.ProjectFile));
    }

    [Fact]
    public async Task Concurrent_generate_key_commands_lose_no_key()
    {
        CliResult[] results = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => _env.RunAsync("security", "generate-key", "--output", "json")));

        Assert.All(results, r => Assert.Equal(0, r.ExitCode));
        SecurityConfig config = SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value;
        foreach (CliResult r in results)
        {
            using var doc = JsonDocument.Parse(r.Stdout);
            Assert.NotNull(config.FindByDigest(ApiKeys.Digest(doc.RootElement.GetProperty("key").GetString()!)));
        }
    }

    [Fact]
    public async Task Written_files_are_0600_in_a_0700_directory()
    {
        await GenerateAsync();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_env.ProjectFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(_env.ProjectFile)!));
    }

    [Fact]
    public async Task Setup_with_yes_writes_mode_key_and_allowlist_without_questions()
    {
        CliResult r = await _env.RunAsync("security", "setup", "--yes", "--mode", "relaxed", "--generate-key", "--allow-ip", "10.1.0.0/16", "--allow-ip", "fd00::/8", "--output", "json");

        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        string key = doc.RootElement.GetProperty("key").GetProperty("key").GetString()!;
        SecurityConfig config = SecurityConfigFile.Load(_env.ProjectFile)!.Value.Value;
        Assert.Equal(SecurityMode.Relaxed, config.Mode);
        Assert.NotNull(config.FindByDigest(ApiKeys.Digest(key)));
        Assert.Equal(["127.0.0.1", "::1", "10.1.0.0/16", "fd00::/8"], config.AllowedIps.Entries);
        Canary.AssertAbsentFromFiles(key, _env.Dir);
    }

    [Fact]
    public async Task Setup_cancelled_by_end_of_input_writes_nothing()
    {
        CliResult r = await _env.RunWithStdinAsync("1\n2\n", "security", "setup");

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("nothing was written", r.Stderr);
        Assert.False(Directory.Exists(Path.GetDirectoryName(_env.ProjectFile)));
        Assert.False(Directory.Exists(_env.Xdg));
    }

    public void Dispose() => _env.Dispose();
}
