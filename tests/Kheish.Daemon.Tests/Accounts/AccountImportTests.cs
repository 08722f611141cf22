using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Accounts;

/// <summary><c>secrets import-codex|import-claude-code --offline</c> on the real binary, from fixture login files.</summary>
public sealed class AccountImportTests
{
    private static Dictionary<string, string?> Env(string masterKey, TempDir dir) => new()
    {
        ["KHEISH_AUTH_STORE_MASTER_KEY"] = masterKey,
        ["HOME"] = dir.File("home"),
        ["CODEX_HOME"] = null,
        ["CLAUDE_CONFIG_DIR"] = null,
    };

    private static string NewKey() => Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    private static Task<CliResult> Offline(TempDir dir, Dictionary<string, string?> env, params string[] args) =>
        Support.Cli.RunAsync([.. args, "--offline", "--state-root", dir.StateRoot, "-o", "json"], env);

    [Fact]
    public async Task Codex_login_imports_as_an_openai_oauth_account_with_summary_and_details()
    {
        using var dir = new TempDir();
        var env = Env(NewKey(), dir);
        DateTimeOffset expires = DateTimeOffset.UtcNow.AddMinutes(42);
        string access = AccountFixtures.Jwt(expires);
        string refresh = Canary.New("refresh");
        string path = AccountFixtures.Write(dir, "auth.json", AccountFixtures.CodexAuthJson(access, refresh));

        CliResult import = await Offline(dir, env, "secrets", "import-codex", "openai.codex", "--file", path);

        Assert.True(import.ExitCode == 0, import.ToString());
        using JsonDocument doc = JsonDocument.Parse(import.Stdout);
        JsonElement s = doc.RootElement;
        Assert.Equal("openai", s.GetProperty("provider").GetString());
        Assert.Equal("oauth_account", s.GetProperty("mode").GetString());
        Assert.Equal($"codex_account:{AccountFixtures.CodexAccountId} ({path})", s.GetProperty("summary").GetString());
        Assert.Equal((expires.ToUnixTimeSeconds() * 1000).ToString(System.Globalization.CultureInfo.InvariantCulture),
            s.GetProperty("details").GetProperty("expires_at_ms").GetString());
        Assert.Equal("email offline_access openid profile", s.GetProperty("details").GetProperty("scopes").GetString());
        CliResult list = await Offline(dir, env, "runtime", "auth", "accounts", "list");
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("\"slot_id\":\"openai.codex\"", list.Stdout);
        foreach (string token in new[] { access, refresh })
        {
            Canary.AssertAbsent(token, import.All + list.All, "CLI output");
            Canary.AssertAbsentFromFiles(token, dir, "auth.json");
        }
    }

    [Fact]
    public async Task Claude_code_login_imports_as_an_anthropic_oauth_account()
    {
        using var dir = new TempDir();
        var env = Env(NewKey(), dir);
        string access = Canary.New("access");
        string refresh = Canary.New("refresh");
        DateTimeOffset expires = DateTimeOffset.UtcNow.AddHours(3);
        // The default location: $HOME/.claude/.credentials.json.
        Directory.CreateDirectory(dir.File("home/.claude"));
        string path = dir.File("home/.claude/.credentials.json");
        File.WriteAllText(path, AccountFixtures.ClaudeCredentialsJson(access, refresh, expires));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        CliResult import = await Offline(dir, env, "secrets", "import-claude-code", "anthropic.claude");

        Assert.True(import.ExitCode == 0, import.ToString());
        Assert.DoesNotContain("warning", import.Stderr);
        CliResult get = await Offline(dir, env, "runtime", "auth", "accounts", "get", "anthropic.claude");
        Assert.True(get.ExitCode == 0, get.ToString());
        using JsonDocument doc = JsonDocument.Parse(get.Stdout);
        JsonElement s = doc.RootElement;
        Assert.Equal("anthropic", s.GetProperty("provider").GetString());
        Assert.Equal("oauth_account", s.GetProperty("mode").GetString());
        Assert.Equal($"claude_code_account:max ({path})", s.GetProperty("summary").GetString());
        Assert.Equal(expires.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
            s.GetProperty("details").GetProperty("expires_at_ms").GetString());
        Assert.Equal("user:inference user:profile", s.GetProperty("details").GetProperty("scopes").GetString());
        foreach (string token in new[] { access, refresh })
        {
            Canary.AssertAbsent(token, import.All + get.All, "CLI output");
            Canary.AssertAbsentFromFiles(token, dir, ".credentials.json");
        }
    }

    public static TheoryData<string, string, string, string> Refusals => new()
    {
        // kind, file contents ("" = no file), expected code, expected message fragment
        { "import-claude-code", "SCOPELESS", "account_scope_missing", "lacks the user:inference scope" },
        { "import-claude-code", "{\"claudeAiOauth\":{\"accessToken\":\"TOKEN\",\"refreshToken\":\"TOKEN\",\"scopes\":[\"user:inference\"]}}", "invalid_account_file", "claudeAiOauth.expiresAt" },
        { "import-claude-code", "{\"somethingElse\":{}}", "invalid_account_file", "no \"claudeAiOauth\" object" },
        { "import-codex", "{\"tokens\":{\"access_token\":\"TOKEN\"}}", "invalid_account_file", "tokens.refresh_token must be a non-empty string" },
        { "import-codex", "{\"OPENAI_API_KEY\":\"TOKEN\"}", "account_not_oauth", "holds an OpenAI API key login" },
        { "import-codex", "{\"tokens\": TOKEN", "invalid_account_file", "is not valid JSON (line 1)" },
        { "import-codex", "", "account_file_missing", "keyring" },
        { "import-claude-code", "", "account_file_missing", "does not exist" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task Refused_imports_name_the_problem_never_the_token_and_change_nothing(string verb, string contents, string code, string fragment)
    {
        using var dir = new TempDir();
        var env = Env(NewKey(), dir);
        string token = Canary.New("filetoken");
        string path = dir.File("login.json");
        if (contents == "SCOPELESS")
        {
            contents = AccountFixtures.ClaudeCredentialsJson(token, token, DateTimeOffset.UtcNow.AddHours(1), ["user:profile"]);
        }

        if (contents.Length > 0)
        {
            File.WriteAllText(path, contents.Replace("TOKEN", token, StringComparison.Ordinal));
        }

        // An existing slot that a refused import must leave alone.
        env["EXISTING"] = Canary.New("existing");
        CliResult set = await Offline(dir, env, "secrets", "set", "acct", "--provider", "anthropic", "--from-env", "EXISTING");
        Assert.True(set.ExitCode == 0, set.ToString());
        byte[] before = File.ReadAllBytes(Path.Combine(dir.StateRoot, "auth", "global-slots.json"));

        CliResult import = await Offline(dir, env, "secrets", verb, "acct", "--file", path);

        Assert.Equal(2, import.ExitCode);
        Assert.Contains(code, import.All);
        Assert.Contains(fragment, import.All);
        Canary.AssertAbsent(token, import.All, "refusal output");
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(dir.StateRoot, "auth", "global-slots.json")));
        CliResult get = await Offline(dir, env, "secrets", "get", "acct");
        Assert.Contains("\"mode\":\"api_key\"", get.Stdout);
    }

    [Fact]
    public async Task A_group_readable_login_file_is_imported_with_a_warning()
    {
        using var dir = new TempDir();
        var env = Env(NewKey(), dir);
        string path = AccountFixtures.Write(dir, "auth.json", AccountFixtures.CodexAuthJson(AccountFixtures.Jwt(DateTimeOffset.UtcNow.AddHours(1)), Canary.New("refresh")));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        CliResult import = await Offline(dir, env, "secrets", "import-codex", "openai.codex", "--file", path);

        Assert.True(import.ExitCode == 0, import.ToString());
        Assert.Contains($"warning: {path} is readable by group or others (mode 0644)", import.Stderr);
    }

    [Fact]
    public async Task Import_without_a_master_key_is_refused_before_anything_is_written()
    {
        using var dir = new TempDir();
        var env = Env(NewKey(), dir);
        env.Remove("KHEISH_AUTH_STORE_MASTER_KEY");
        string path = AccountFixtures.Write(dir, "auth.json", AccountFixtures.CodexAuthJson(AccountFixtures.Jwt(DateTimeOffset.UtcNow.AddHours(1)), Canary.New("refresh")));

        CliResult import = await Offline(dir, env, "secrets", "import-codex", "openai.codex", "--file", path);

        Assert.NotEqual(0, import.ExitCode);
        Assert.Contains("master_key_required", import.All);
        Assert.False(File.Exists(Path.Combine(dir.StateRoot, "auth", "global-slots.json")));
    }
}
