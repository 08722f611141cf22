using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Accounts;

/// <summary><c>runtime auth accounts ...</c>, the account endpoints, online import, and the routes check's account rules.</summary>
public sealed class AccountsCliTests
{
    [Fact]
    public async Task Accounts_list_get_refresh_and_revoke_through_the_daemon_show_metadata_only()
    {
        await using AccountHarness h = await AccountHarness.StartAsync();

        CliResult list = await h.OnlineAsync("runtime", "auth", "accounts", "list", "-o", "json");
        CliResult pretty = await h.OnlineAsync("runtime", "auth", "accounts", "list");
        CliResult get = await h.OnlineAsync("runtime", "auth", "accounts", "get", AccountHarness.CodexSlot);
        CliResult refresh = await h.OnlineAsync("runtime", "auth", "accounts", "refresh", AccountHarness.ClaudeSlot, "-o", "json");

        Assert.True(list.ExitCode == 0, list.ToString());
        using (JsonDocument doc = JsonDocument.Parse(list.Stdout))
        {
            string[] ids = [.. doc.RootElement.GetProperty("accounts").EnumerateArray().Select(a => a.GetProperty("slot_id").GetString()!)];
            Assert.Equal([AccountHarness.ClaudeSlot, AccountHarness.CodexSlot], ids);
        }

        Assert.Contains($"claude_code_account:max ({h.ClaudeFile})", pretty.Stdout);
        Assert.True(get.ExitCode == 0, get.ToString());
        Assert.Contains($"summary:    codex_account:{AccountFixtures.CodexAccountId} ({h.CodexFile})", get.Stdout);
        Assert.True(refresh.ExitCode == 0, refresh.ToString());
        Assert.Contains("\"last_refresh_outcome\":\"success\"", refresh.Stdout);
        Assert.Single(h.Tokens.Requests);

        CliResult refreshOffline = await h.OfflineAsync("runtime", "auth", "accounts", "refresh", AccountHarness.ClaudeSlot);
        Assert.Equal(2, refreshOffline.ExitCode);
        Assert.Contains("drop --offline", refreshOffline.Stderr);

        CliResult revoke = await h.OnlineAsync("runtime", "auth", "accounts", "revoke", AccountHarness.ClaudeSlot, "-o", "json");
        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        Assert.Contains("\"deleted\":true", revoke.Stdout);
        CliResult gone = await h.OnlineAsync("runtime", "auth", "accounts", "get", AccountHarness.ClaudeSlot);
        Assert.Equal(5, gone.ExitCode);
        using HttpClient agent = h.Agent();
        HttpResponseMessage call = await agent.PostAsync("/agent/v1/routes/claude/v1/messages", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, call.StatusCode);
        Assert.Empty(h.Upstream.Received);
        h.AssertNoTokenLeaked(list.All, pretty.All, get.All, refresh.All, refreshOffline.All, revoke.All, gone.All, await call.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Account_endpoints_are_admin_only_and_unknown_slots_are_404()
    {
        await using AccountHarness h = await AccountHarness.StartAsync();
        using HttpClient anonymous = h.Daemon.Client();
        using HttpClient agent = h.Agent();
        using HttpClient admin = h.Admin();

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/v1/runtime/auth/accounts")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await agent.PostAsync($"/v1/runtime/auth/accounts/{AccountHarness.ClaudeSlot}/refresh", null)).StatusCode);
        HttpResponseMessage missing = await admin.GetAsync("/v1/runtime/auth/accounts/no.such.slot");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("account_not_found", await missing.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostAsync("/v1/runtime/auth/accounts/..%2Fx/refresh", null)).StatusCode);
        Assert.Empty(h.Tokens.Requests);
    }

    [Fact]
    public async Task Online_import_goes_through_the_daemon_and_replaces_the_slot()
    {
        await using AccountHarness h = await AccountHarness.StartAsync();
        string access = Canary.New("second");
        string refresh = Canary.New("secondrefresh");
        string path = AccountFixtures.Write(h.Dir, ".credentials.json",
            AccountFixtures.ClaudeCredentialsJson(access, refresh, DateTimeOffset.UtcNow.AddHours(2), subscription: "pro"));

        CliResult import = await h.OnlineAsync("secrets", "import-claude-code", AccountHarness.ClaudeSlot, "--file", path);

        Assert.True(import.ExitCode == 0, import.ToString());
        Assert.Contains($"claude_code_account:pro ({path})", import.Stdout);
        using HttpClient agent = h.Agent();
        await agent.PostAsync("/agent/v1/routes/claude/v1/messages", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal("Bearer " + access, Assert.Single(h.Upstream.Received).Header("Authorization"));
        Canary.AssertAbsent(access, import.All + h.Daemon.Logs, "import output and logs");
        Canary.AssertAbsent(refresh, import.All + h.Daemon.Logs, "import output and logs");
    }

    [Fact]
    public async Task An_openrouter_route_on_an_account_slot_is_refused_by_routes_check_and_serve()
    {
        using var dir = new TempDir();
        var env = new Dictionary<string, string?> { ["KHEISH_AUTH_STORE_MASTER_KEY"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) };
        env["STATE"] = "{\"access_token\":\"" + Canary.New("or") + "\",\"refresh_token\":\"" + Canary.New("orr") + "\",\"expires_at_ms\":1}";
        CliResult set = await Support.Cli.RunAsync(
            ["secrets", "set", "openrouter.acct", "--provider", "openrouter", "--mode", "oauth_account", "--from-env", "STATE", "--offline", "--state-root", dir.StateRoot], env);
        Assert.True(set.ExitCode == 0, set.ToString());
        File.WriteAllText(dir.File("routes.toml"), """
            version = 1
            [routes.or]
            driver = "openrouter"
            default_model = "x/y"
            auth_ref = "openrouter.acct"
            """);

        CliResult check = await Support.Cli.RunAsync(["routes", "check", "--routes-file", dir.File("routes.toml"), "--offline", "--state-root", dir.StateRoot, "-o", "json"], env);
        CliResult serve = await DaemonProcess.RunExpectingRefusalAsync(dir.StateRoot, ["--routes-file", dir.File("routes.toml")], env);

        Assert.NotEqual(0, check.ExitCode);
        Assert.Contains("routes_auth_ref_account", check.All);
        Assert.Contains("openrouter routes take API-key slots only", check.All);
        Assert.NotEqual(0, serve.ExitCode);
        Assert.Contains("openrouter routes take API-key slots only", serve.All);
    }
}
