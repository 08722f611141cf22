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

    [Test]
    public async Task Codex_login_imports_as_an_openai_oauth_account_with_summary_and_details()
    {
        using var dir = new TempDir();
        var env = Env(NewKey(), dir);
        DateTimeOffset expires = DateTimeOffset.UtcNow.AddMinutes(42);
        string access = AccountFixtures.Jwt(expires);
        string refresh = Canary.New("refresh");
        string path = AccountFixtures.Write(dir, "auth.json", AccountFixtures.CodexAuthJson(access, refresh));

        CliResult import = await Offline(dir, env, "secrets", "import-codex", "openai.codex", "--file", path);

        await Assert.That(import.ExitCode == 0).IsTrue().Because(import.ToString());
        using JsonDocument doc = JsonDocument.Parse(import.Stdout);
        JsonElement s = doc.RootElement;
        await Assert.That(s.GetProperty("provider").GetString()).IsEqualTo("openai");
        await Assert.That(s.GetProperty("mode").GetString()).IsEqualTo("oauth_account");
        await Assert.That(s.GetProperty("summary").GetString()).IsEqualTo($"codex_account:{AccountFixtures.CodexAccountId} ({path})");
        await Assert.That(s.GetProperty("details").GetProperty("expires_at_ms").GetString()).IsEqualTo((expires.ToUnixTimeSeconds() * 1000).ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Assert.That(s.GetProperty("details").GetProperty("scopes").GetString()).IsEqualTo("email offline_access openid profile");
        CliResult list = await Offline(dir, env, "runtime", "auth", "accounts", "list");
        await Assert.That(list.ExitCode == 0).IsTrue().Because(list.ToString());
        await Assert.That(list.Stdout).Contains("\"slot_id\":\"openai.codex\"");
        foreach (string token in new[] { access, refresh })
        {
            Canary.AssertAbsent(token, import.All + list.All, "CLI output");
            Canary.AssertAbsentFromFiles(token, dir, "auth.json");
        }
    }

    [Test]
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

        await Assert.That(import.ExitCode == 0).IsTrue().Because(import.ToString());
        await Assert.That(import.Stderr).DoesNotContain("warning");
        CliResult get = await Offline(dir, env, "runtime", "auth", "accounts", "get", "anthropic.claude");
        await Assert.That(get.ExitCode == 0).IsTrue().Because(get.ToString());
        using JsonDocument doc = JsonDocument.Parse(get.Stdout);
        JsonElement s = doc.RootElement;
        await Assert.That(s.GetProperty("provider").GetString()).IsEqualTo("anthropic");
        await Assert.That(s.GetProperty("mode").GetString()).IsEqualTo("oauth_account");
        await Assert.That(s.GetProperty("summary").GetString()).IsEqualTo($"claude_code_account:max ({path})");
        await Assert.That(s.GetProperty("details").GetProperty("expires_at_ms").GetString()).IsEqualTo(expires.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Assert.That(s.GetProperty("details").GetProperty("scopes").GetString()).IsEqualTo("user:inference user:profile");
        foreach (string token in new[] { access, refresh })
        {
            Canary.AssertAbsent(token, import.All + get.All, "CLI output");
            Canary.AssertAbsentFromFiles(token, dir, ".credentials.json");
        }
    }

    public static IEnumerable<(string, string, string, string)> Refusals =>
    [
        // verb, file contents ("" = no file), expected code, expected message fragment
        ("import-claude-code", "SCOPELESS", "account_scope_missing", "lacks the user:inference scope"),
        ("import-claude-code", "{\"claudeAiOauth\":{\"accessToken\":\"TOKEN\",\"refreshToken\":\"TOKEN\",\"scopes\":[\"user:inference\"]}}", "invalid_account_file", "claudeAiOauth.expiresAt"),
        ("import-claude-code", "{\"somethingElse\":{}}", "invalid_account_file", "no \"claudeAiOauth\" object"),
        ("import-codex", "{\"tokens\":{\"access_token\":\"TOKEN\"}}", "invalid_account_file", "tokens.refresh_token must be a non-empty string"),
        ("import-codex", "{\"OPENAI_API_KEY\":\"TOKEN\"}", "account_not_oauth", "holds an OpenAI API key login"),
        ("import-codex", "{\"tokens\": TOKEN", "invalid_account_file", "is not valid JSON (line 1)"),
        ("import-codex", "", "account_file_missing", "keyring"),
        ("import-claude-code", "", "account_file_missing", "does not exist"),
    ];

    [Test]
    [MethodDataSource(nameof(Refusals))]
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
        await Assert.That(set.ExitCode == 0).IsTrue().Because(set.ToString());
        byte[] before = File.ReadAllBytes(Path.Combine(dir.StateRoot, "auth", "global-slots.json"));

        CliResult import = await Offline(dir, env, "secrets", verb, "acct", "--file", path);

        await Assert.That(import.ExitCode).IsEqualTo(2);
        await Assert.That(import.All).Contains(code);
        await Assert.That(import.All).Contains(fragment);
        Canary.AssertAbsent(token, import.All, "refusal output");
        await Assert.That(Convert.ToHexString(File.ReadAllBytes(Path.Combine(dir.StateRoot, "auth", "global-slots.json")))).IsEqualTo(Convert.ToHexString(before));
        CliResult get = await Offline(dir, env, "secrets", "get", "acct");
        await Assert.That(get.Stdout).Contains("\"mode\":\"api_key\"");
    }

    [Test]
    public async Task A_group_readable_login_file_is_imported_with_a_warning()
    {
        using var dir = new TempDir();
        var env = Env(NewKey(), dir);
        string path = AccountFixtures.Write(dir, "auth.json", AccountFixtures.CodexAuthJson(AccountFixtures.Jwt(DateTimeOffset.UtcNow.AddHours(1)), Canary.New("refresh")));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        CliResult import = await Offline(dir, env, "secrets", "import-codex", "openai.codex", "--file", path);

        await Assert.That(import.ExitCode == 0).IsTrue().Because(import.ToString());
        await Assert.That(import.Stderr).Contains($"warning: {path} is readable by group or others (mode 0644)");
    }

    [Test]
    public async Task Import_without_a_master_key_is_refused_before_anything_is_written()
    {
        using var dir = new TempDir();
        var env = Env(NewKey(), dir);
        env.Remove("KHEISH_AUTH_STORE_MASTER_KEY");
        string path = AccountFixtures.Write(dir, "auth.json", AccountFixtures.CodexAuthJson(AccountFixtures.Jwt(DateTimeOffset.UtcNow.AddHours(1)), Canary.New("refresh")));

        CliResult import = await Offline(dir, env, "secrets", "import-codex", "openai.codex", "--file", path);

        await Assert.That(import.ExitCode).IsNotEqualTo(0);
        await Assert.That(import.All).Contains("master_key_required");
        await Assert.That(File.Exists(Path.Combine(dir.StateRoot, "auth", "global-slots.json"))).IsFalse();
    }
}
