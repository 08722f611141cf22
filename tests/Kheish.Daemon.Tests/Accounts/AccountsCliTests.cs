using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Accounts;

/// <summary><c>runtime auth accounts ...</c>, the account endpoints, online import, and the routes check's account rules.</summary>
public sealed class AccountsCliTests
{
    [Test]
    public async Task Accounts_list_get_refresh_and_revoke_through_the_daemon_show_metadata_only()
    {
        await using AccountHarness h = await AccountHarness.StartAsync();

        CliResult list = await h.OnlineAsync("runtime", "auth", "accounts", "list", "-o", "json");
        CliResult pretty = await h.OnlineAsync("runtime", "auth", "accounts", "list");
        CliResult get = await h.OnlineAsync("runtime", "auth", "accounts", "get", AccountHarness.CodexSlot);
        CliResult refresh = await h.OnlineAsync("runtime", "auth", "accounts", "refresh", AccountHarness.ClaudeSlot, "-o", "json");

        await Assert.That(list.ExitCode == 0).IsTrue().Because(list.ToString());
        using (JsonDocument doc = JsonDocument.Parse(list.Stdout))
        {
            string[] ids = [.. doc.RootElement.GetProperty("accounts").EnumerateArray().Select(a => a.GetProperty("slot_id").GetString()!)];
            await Assert.That(ids).IsEquivalentTo([AccountHarness.ClaudeSlot, AccountHarness.CodexSlot], CollectionOrdering.Matching);
        }

        await Assert.That(pretty.Stdout).Contains($"claude_code_account:max ({h.ClaudeFile})");
        await Assert.That(get.ExitCode == 0).IsTrue().Because(get.ToString());
        await Assert.That(get.Stdout).Contains($"summary:    codex_account:{AccountFixtures.CodexAccountId} ({h.CodexFile})");
        await Assert.That(refresh.ExitCode == 0).IsTrue().Because(refresh.ToString());
        await Assert.That(refresh.Stdout).Contains("\"last_refresh_outcome\":\"success\"");
        await Assert.That(h.Tokens.Requests).HasSingleItem();

        CliResult refreshOffline = await h.OfflineAsync("runtime", "auth", "accounts", "refresh", AccountHarness.ClaudeSlot);
        await Assert.That(refreshOffline.ExitCode).IsEqualTo(2);
        await Assert.That(refreshOffline.Stderr).Contains("drop --offline");

        CliResult revoke = await h.OnlineAsync("runtime", "auth", "accounts", "revoke", AccountHarness.ClaudeSlot, "-o", "json");
        await Assert.That(revoke.ExitCode == 0).IsTrue().Because(revoke.ToString());
        await Assert.That(revoke.Stdout).Contains("\"deleted\":true");
        CliResult gone = await h.OnlineAsync("runtime", "auth", "accounts", "get", AccountHarness.ClaudeSlot);
        await Assert.That(gone.ExitCode).IsEqualTo(5);
        using HttpClient agent = h.Agent();
        HttpResponseMessage call = await agent.PostAsync("/agent/v1/routes/claude/v1/messages", new StringContent("{}", Encoding.UTF8, "application/json"));
        // Revoke deletes the slot and leaves its revocation in force (a delete never lifts it),
        // so the route says the account was revoked rather than that it is missing.
        string callBody = await call.Content.ReadAsStringAsync();
        await Assert.That(call.StatusCode).IsEqualTo(HttpStatusCode.Forbidden).Because(callBody);
        await Assert.That(callBody).Contains("slot_revoked");
        await Assert.That(h.Upstream.Received).IsEmpty();
        h.AssertNoTokenLeaked(list.All, pretty.All, get.All, refresh.All, refreshOffline.All, revoke.All, gone.All, await call.Content.ReadAsStringAsync());
    }

    [Test]
    public async Task Account_endpoints_are_admin_only_and_unknown_slots_are_404()
    {
        await using AccountHarness h = await AccountHarness.StartAsync();
        using HttpClient anonymous = h.Daemon.Client();
        using HttpClient agent = h.Agent();
        using HttpClient admin = h.Admin();

        await Assert.That((await anonymous.GetAsync("/v1/runtime/auth/accounts")).StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That((await agent.PostAsync($"/v1/runtime/auth/accounts/{AccountHarness.ClaudeSlot}/refresh", null)).StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        HttpResponseMessage missing = await admin.GetAsync("/v1/runtime/auth/accounts/no.such.slot");
        await Assert.That(missing.StatusCode).IsEqualTo(HttpStatusCode.NotFound);
        await Assert.That(await missing.Content.ReadAsStringAsync()).Contains("account_not_found");
        await Assert.That((await admin.PostAsync("/v1/runtime/auth/accounts/..%2Fx/refresh", null)).StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
        await Assert.That(h.Tokens.Requests).IsEmpty();
    }

    [Test]
    public async Task Online_import_goes_through_the_daemon_and_replaces_the_slot()
    {
        await using AccountHarness h = await AccountHarness.StartAsync();
        string access = Canary.New("second");
        string refresh = Canary.New("secondrefresh");
        string path = AccountFixtures.Write(h.Dir, ".credentials.json",
            AccountFixtures.ClaudeCredentialsJson(access, refresh, DateTimeOffset.UtcNow.AddHours(2), subscription: "pro"));

        CliResult import = await h.OnlineAsync("secrets", "import-claude-code", AccountHarness.ClaudeSlot, "--file", path);

        await Assert.That(import.ExitCode == 0).IsTrue().Because(import.ToString());
        await Assert.That(import.Stdout).Contains($"claude_code_account:pro ({path})");
        using HttpClient agent = h.Agent();
        await agent.PostAsync("/agent/v1/routes/claude/v1/messages", new StringContent("{}", Encoding.UTF8, "application/json"));
        await Assert.That((await Assert.That(h.Upstream.Received).HasSingleItem())!.Header("Authorization")).IsEqualTo("Bearer " + access);
        Canary.AssertAbsent(access, import.All + h.Daemon.Logs, "import output and logs");
        Canary.AssertAbsent(refresh, import.All + h.Daemon.Logs, "import output and logs");
    }

    [Test]
    public async Task An_openrouter_route_on_an_account_slot_is_refused_by_routes_check_and_serve()
    {
        using var dir = new TempDir();
        var env = new Dictionary<string, string?> { ["KHEISH_AUTH_STORE_MASTER_KEY"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) };
        env["STATE"] = "{\"access_token\":\"" + Canary.New("or") + "\",\"refresh_token\":\"" + Canary.New("orr") + "\",\"expires_at_ms\":1}";
        CliResult set = await Support.Cli.RunAsync(
            ["secrets", "set", "openrouter.acct", "--provider", "openrouter", "--mode", "oauth_account", "--from-env", "STATE", "--offline", "--state-root", dir.StateRoot], env);
        await Assert.That(set.ExitCode == 0).IsTrue().Because(set.ToString());
        File.WriteAllText(dir.File("routes.toml"), """
            version = 1
            [routes.or]
            driver = "openrouter"
            default_model = "x/y"
            auth_ref = "openrouter.acct"
            """);

        CliResult check = await Support.Cli.RunAsync(["routes", "check", "--routes-file", dir.File("routes.toml"), "--offline", "--state-root", dir.StateRoot, "-o", "json"], env);
        CliResult serve = await DaemonProcess.RunExpectingRefusalAsync(dir.StateRoot, ["--routes-file", dir.File("routes.toml")], env);

        await Assert.That(check.ExitCode).IsNotEqualTo(0);
        await Assert.That(check.All).Contains("routes_auth_ref_account");
        await Assert.That(check.All).Contains("openrouter routes take API-key slots only");
        await Assert.That(serve.ExitCode).IsNotEqualTo(0);
        await Assert.That(serve.All).Contains("openrouter routes take API-key slots only");
    }
}
