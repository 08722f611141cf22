using System.Text.Json;
using System.Text.RegularExpressions;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.McpOauth;

/// <summary>
/// <c>mcp oauth login|status|refresh|logout</c> and an OAuth-backed MCP server through <c>/mcp</c>,
/// against a real authorization server (oidc-provider) and a protected MCP server (TypeScript
/// SDK) that accepts only its tokens. Skipped (reported) when the npm peers are missing.
/// </summary>
public sealed class McpOauthTests
{
    private static bool PeersMissing() => McpOauthHarness.NodeModules() is null;

    [Test]
    public async Task Login_stores_the_account_and_an_agent_call_reaches_the_protected_server_then_refresh_and_logout_work()
    {
        if (PeersMissing()) { Skip.Test("oidc-provider / node@22 missing: run scripts/test-deps.sh"); }
        await using McpOauthHarness h = await McpOauthHarness.StartAsync();
        var outputs = new List<string>();

        CliResult login = await h.LoginAsync();
        outputs.Add(login.All);
        await Assert.That(login.ExitCode).IsEqualTo(0).Because(login + h.LoginBrowserLog);
        using (JsonDocument status = JsonDocument.Parse(login.Stdout))
        {
            JsonElement root = status.RootElement;
            await Assert.That(root.GetProperty("slot_id").GetString()).IsEqualTo(McpOauthHarness.Slot);
            await Assert.That(root.GetProperty("summary").GetString()).IsEqualTo("mcp_oauth_account:secure");
            JsonElement details = root.GetProperty("details");
            await Assert.That(details.GetProperty("resource").GetString()).IsEqualTo(h.Resource);
            await Assert.That(details.GetProperty("issuer").GetString()).IsEqualTo(h.Issuer);
            await Assert.That(details.GetProperty("token_endpoint").GetString()).IsEqualTo(h.Issuer + "/token");
            await Assert.That(details.GetProperty("client_id").GetString()!.Length).IsGreaterThan(0);
            await Assert.That(details.TryGetProperty("access_token", out _)).IsFalse();
        }

        await Assert.That(h.IssuedTokens().Count).IsGreaterThanOrEqualTo(2);

        CliResult list = await h.OnlineAsync("runtime", "auth", "accounts", "list");
        outputs.Add(list.All);
        await Assert.That(list.Stdout).Contains("mcp.oauth.secure  mcp_oauth  mcp_oauth_account:secure");

        using (HttpResponseMessage added = await h.AddServerAsync())
        {
            string body = await added.Content.ReadAsStringAsync();
            outputs.Add(body);
            await Assert.That((int)added.StatusCode).IsEqualTo(200).Because(body);
        }

        string call = await h.AgentCallAsync("secure__whoami");
        outputs.Add(call);
        await Assert.That(call).Contains("secure__whoami");
        await Assert.That(call).Contains("aud=" + h.Resource);
        await Assert.That(call).Contains("scopes=tools:read tools:call");

        // The upstream echoes the bearer it got: the agent sees it redacted.
        string echo = await h.AgentCallAsync("secure__echo-auth");
        outputs.Add(echo);
        await Assert.That(echo).Contains("you sent: Bearer");

        int before = h.IssuedTokens().Count;
        CliResult refresh = await h.OnlineAsync("mcp", "oauth", "refresh", McpOauthHarness.Server, "-o", "json");
        outputs.Add(refresh.All);
        await Assert.That(refresh.ExitCode).IsEqualTo(0).Because(refresh.ToString());
        await Assert.That(refresh.Stdout).Contains("\"last_refresh_outcome\":\"success\"");
        await Assert.That(h.IssuedTokens().Count).IsGreaterThan(before);

        string afterRefresh = await h.AgentCallAsync("secure__whoami");
        outputs.Add(afterRefresh);
        await Assert.That(afterRefresh).Contains("aud=" + h.Resource);

        // A refresh that fails is recorded, redacted, and the old (still valid) token keeps working.
        await h.ControlAsync(fail: true);
        CliResult failed = await h.OnlineAsync("mcp", "oauth", "refresh", McpOauthHarness.Server);
        outputs.Add(failed.All);
        await Assert.That(failed.ExitCode).IsNotEqualTo(0);
        await Assert.That(failed.Stderr).Contains("400 (invalid_grant)");
        CliResult status2 = await h.OnlineAsync("mcp", "oauth", "status", McpOauthHarness.Server);
        outputs.Add(status2.All);
        await Assert.That(status2.Stdout).Contains("last_refresh_outcome: failure");
        string stillWorks = await h.AgentCallAsync("secure__whoami");
        outputs.Add(stillWorks);
        await Assert.That(stillWorks).Contains("aud=" + h.Resource);

        // Escalation at refresh: the server grants a scope the account never held.
        await h.ControlAsync(escalate: true, fail: false);
        CliResult escalated = await h.OnlineAsync("mcp", "oauth", "refresh", McpOauthHarness.Server);
        outputs.Add(escalated.All);
        await Assert.That(escalated.ExitCode).IsNotEqualTo(0);
        await Assert.That(escalated.Stderr).Contains("no escalation");
        CliResult status3 = await h.OnlineAsync("mcp", "oauth", "status", McpOauthHarness.Server, "-o", "json");
        outputs.Add(status3.All);
        await Assert.That(status3.Stdout).Contains("\"last_refresh_outcome\":\"failure\"");
        using (JsonDocument doc = JsonDocument.Parse(status3.Stdout))
        {
            string[] held = doc.RootElement.GetProperty("details").GetProperty("scopes").GetString()!.Split(' ');
            await Assert.That(held.Order()).IsEquivalentTo(["tools:call", "tools:read"], CollectionOrdering.Matching);
        }

        CliResult logout = await h.OnlineAsync("mcp", "oauth", "logout", McpOauthHarness.Server);
        outputs.Add(logout.All);
        await Assert.That(logout.ExitCode).IsEqualTo(0).Because(logout.ToString());
        CliResult gone = await h.OnlineAsync("mcp", "oauth", "status", McpOauthHarness.Server);
        outputs.Add(gone.All);
        await Assert.That(gone.ExitCode).IsEqualTo(5);
        string afterLogout = await h.AgentCallAsync("secure__whoami");
        outputs.Add(afterLogout);
        await Assert.That(afterLogout).DoesNotContain("aud=");

        await h.AssertNoLeaksAsync([.. outputs]);
    }

    [Test]
    [Arguments("state")]
    [Arguments("iss")]
    public async Task A_redirect_with_a_wrong_parameter_stores_nothing(string parameter)
    {
        if (PeersMissing()) { Skip.Test("oidc-provider / node@22 missing: run scripts/test-deps.sh"); }
        await using McpOauthHarness h = await McpOauthHarness.StartAsync();
        CliResult login = await h.LoginAsync(redirect => new Uri(Regex.Replace(
            redirect.ToString(), parameter + "=[^&]*", parameter + "=" + Uri.EscapeDataString(parameter == "iss" ? "https://attacker.example" : "forged-state"))));
        await Assert.That(login.ExitCode).IsNotEqualTo(0).Because(login + h.LoginBrowserLog);
        await Assert.That(login.Stdout).Contains($"\"code\":\"mcp_oauth_{parameter}_mismatch\"");
        await Assert.That(h.LoginBrowserLog).Contains("callback 400");
        string accounts = await h.AccountsJsonAsync();
        await Assert.That(accounts).DoesNotContain("mcp.oauth");
        await h.AssertNoLeaksAsync(login.All, accounts);
    }

    [Test]
    public async Task Scopes_granted_beyond_the_request_are_refused_at_the_exchange()
    {
        if (PeersMissing()) { Skip.Test("oidc-provider / node@22 missing: run scripts/test-deps.sh"); }
        await using McpOauthHarness h = await McpOauthHarness.StartAsync();
        await h.ControlAsync(escalate: true);
        CliResult login = await h.LoginAsync();
        await Assert.That(login.ExitCode).IsNotEqualTo(0).Because(login + h.LoginBrowserLog);
        await Assert.That(login.Stdout).Contains("\"code\":\"mcp_oauth_scope_escalation\"");
        await Assert.That(login.Stderr).Contains("(admin:all); refused, nothing was stored");
        string accounts = await h.AccountsJsonAsync();
        await Assert.That(accounts).DoesNotContain("mcp.oauth");
        await h.AssertNoLeaksAsync(login.All, accounts);
    }

    [Test]
    public async Task A_server_asking_for_scopes_the_account_does_not_hold_is_refused_with_the_reason()
    {
        if (PeersMissing()) { Skip.Test("oidc-provider / node@22 missing: run scripts/test-deps.sh"); }
        await using McpOauthHarness h = await McpOauthHarness.StartAsync();
        CliResult login = await h.LoginAsync(null, "--scopes", "tools:read,tools:call");
        await Assert.That(login.ExitCode).IsEqualTo(0).Because(login + h.LoginBrowserLog);
        using (HttpResponseMessage added = await h.AddServerAsync("""["tools:read","tools:call","admin:all"]"""))
        {
            await Assert.That((int)added.StatusCode).IsEqualTo(200);
        }

        string call = await h.AgentCallAsync("secure__whoami");
        await Assert.That(call).DoesNotContain("aud=");
        await Assert.That(h.Daemon.Logs + call).Contains("mcp_oauth_scope_mismatch");
        await h.AssertNoLeaksAsync(login.All, call);
    }
}
