using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.McpOauth;

/// <summary>
/// Dynamically registered public clients are stored per issuer (and redirect URI) and reused by
/// the next <c>mcp oauth login</c>, against the real oidc-provider: registrations are counted
/// by the authorization server itself. Skipped (reported) when the npm peers are missing.
/// </summary>
public sealed class McpOauthClientReuseTests
{
    private static bool PeersMissing() => McpOauthHarness.NodeModules() is null;

    private static (string ClientId, string Source) ClientOf(CliResult login)
    {
        using JsonDocument doc = JsonDocument.Parse(login.Stdout);
        JsonElement details = doc.RootElement.GetProperty("details");
        return (details.GetProperty("client_id").GetString()!, details.GetProperty("client_source").GetString()!);
    }

    [Test]
    public async Task A_second_login_to_the_same_issuer_reuses_the_stored_client_and_registers_nothing_and_logout_keeps_it()
    {
        if (PeersMissing()) { Skip.Test("oidc-provider / node@22 missing: run scripts/test-deps.sh"); }
        await using McpOauthHarness h = await McpOauthHarness.StartAsync();
        var outputs = new List<string>();

        CliResult first = await h.LoginAsync();
        outputs.Add(first.All);
        await Assert.That(first.ExitCode).IsEqualTo(0).Because(first + h.LoginBrowserLog);
        (string firstId, string firstSource) = ClientOf(first);
        await Assert.That(firstSource).IsEqualTo("registered");
        await Assert.That(await h.RegistrationsAsync()).IsEqualTo(1);

        CliResult second = await h.LoginAsync();
        outputs.Add(second.All);
        await Assert.That(second.ExitCode).IsEqualTo(0).Because(second + h.LoginBrowserLog);
        await Assert.That(ClientOf(second)).IsEqualTo((firstId, "reused"));
        await Assert.That(await h.RegistrationsAsync()).IsEqualTo(1);

        // The reused client's tokens work: an agent call reaches the protected server with them.
        using (HttpResponseMessage added = await h.AddServerAsync())
        {
            await Assert.That((int)added.StatusCode).IsEqualTo(200);
        }

        string call = await h.AgentCallAsync("secure__whoami");
        outputs.Add(call);
        await Assert.That(call).Contains("client=" + firstId);

        CliResult status = await h.OnlineAsync("mcp", "oauth", "status", McpOauthHarness.Server);
        outputs.Add(status.All);
        await Assert.That(status.Stdout).Contains("client_source: reused");

        // Logout deletes the account, not the client: the next login still registers nothing.
        CliResult logout = await h.OnlineAsync("mcp", "oauth", "logout", McpOauthHarness.Server);
        outputs.Add(logout.All);
        await Assert.That(logout.ExitCode).IsEqualTo(0).Because(logout.ToString());
        string clients = await h.StoredClientsJsonAsync();
        outputs.Add(clients);
        await Assert.That(clients).Contains(firstId);
        await Assert.That(clients).DoesNotContain("secret");

        CliResult third = await h.LoginAsync();
        outputs.Add(third.All);
        await Assert.That(third.ExitCode).IsEqualTo(0).Because(third + h.LoginBrowserLog);
        await Assert.That(ClientOf(third)).IsEqualTo((firstId, "reused"));
        await Assert.That(await h.RegistrationsAsync()).IsEqualTo(1);
        await h.AssertNoLeaksAsync([.. outputs]);
    }

    [Test]
    public async Task A_stored_client_the_server_no_longer_knows_is_dropped_and_registered_again_once()
    {
        if (PeersMissing()) { Skip.Test("oidc-provider / node@22 missing: run scripts/test-deps.sh"); }
        await using McpOauthHarness h = await McpOauthHarness.StartAsync();
        CliResult first = await h.LoginAsync();
        await Assert.That(first.ExitCode).IsEqualTo(0).Because(first + h.LoginBrowserLog);
        (string oldId, _) = ClientOf(first);

        await h.ControlAsync(forgetClients: true);
        CliResult second = await h.LoginAsync();
        await Assert.That(second.ExitCode).IsEqualTo(0).Because(second + h.LoginBrowserLog);
        await Assert.That(second.Stderr).Contains("no longer accepts the stored client " + oldId + " (invalid_client)");
        (string newId, string source) = ClientOf(second);
        await Assert.That(source).IsEqualTo("registered");
        await Assert.That(newId).IsNotEqualTo(oldId);
        await Assert.That(await h.RegistrationsAsync()).IsEqualTo(2);

        string clients = await h.StoredClientsJsonAsync();
        await Assert.That(clients).Contains(newId);
        await Assert.That(clients).DoesNotContain(oldId);
        await h.AssertNoLeaksAsync(first.All, second.All, clients);
    }

    [Test]
    public async Task A_stored_client_refused_at_the_exchange_is_dropped_and_the_operator_is_told_to_rerun()
    {
        if (PeersMissing()) { Skip.Test("oidc-provider / node@22 missing: run scripts/test-deps.sh"); }
        await using McpOauthHarness h = await McpOauthHarness.StartAsync();
        CliResult first = await h.LoginAsync();
        await Assert.That(first.ExitCode).IsEqualTo(0).Because(first + h.LoginBrowserLog);

        await h.ControlAsync(rejectExchange: true);
        CliResult refused = await h.LoginAsync();
        await Assert.That(refused.ExitCode).IsNotEqualTo(0).Because(refused + h.LoginBrowserLog);
        await Assert.That(refused.Stdout).Contains("\"code\":\"mcp_oauth_client_rejected\"");
        await Assert.That(refused.Stderr).Contains($"was dropped: run `kheish-daemon mcp oauth login secure --url {h.Resource}` again");
        await Assert.That(await h.RegistrationsAsync()).IsEqualTo(1);
        await Assert.That(await h.StoredClientsJsonAsync()).IsEqualTo("""{"clients":[]}""");

        // No loop, no retry behind the operator's back: the rerun registers once and works.
        await h.ControlAsync(rejectExchange: false);
        CliResult rerun = await h.LoginAsync();
        await Assert.That(rerun.ExitCode).IsEqualTo(0).Because(rerun + h.LoginBrowserLog);
        await Assert.That(ClientOf(rerun).Source).IsEqualTo("registered");
        await Assert.That(await h.RegistrationsAsync()).IsEqualTo(2);
        await h.AssertNoLeaksAsync(first.All, refused.All, rerun.All);
    }

    [Test]
    public async Task Another_issuer_gets_a_client_of_its_own()
    {
        if (PeersMissing()) { Skip.Test("oidc-provider / node@22 missing: run scripts/test-deps.sh"); }
        await using McpOauthHarness h = await McpOauthHarness.StartAsync();
        await using McpOauthHarness other = await McpOauthHarness.StartAsync();
        string[] daemon = ["--base-url", h.Daemon.BaseUri.ToString(), "--token", h.AdminToken];

        CliResult a = await h.LoginAsync();
        await Assert.That(a.ExitCode).IsEqualTo(0).Because(a + h.LoginBrowserLog);
        CliResult b = await h.LoginToAsync("other", other.Resource, null, daemon);
        await Assert.That(b.ExitCode).IsEqualTo(0).Because(b + h.LoginBrowserLog);
        await Assert.That(ClientOf(b).Source).IsEqualTo("registered");
        await Assert.That(ClientOf(b).ClientId).IsNotEqualTo(ClientOf(a).ClientId);
        await Assert.That(await h.RegistrationsAsync()).IsEqualTo(1);
        await Assert.That(await other.RegistrationsAsync()).IsEqualTo(1);

        CliResult again = await h.LoginToAsync("other", other.Resource, null, daemon);
        await Assert.That(again.ExitCode).IsEqualTo(0).Because(again + h.LoginBrowserLog);
        await Assert.That(ClientOf(again)).IsEqualTo((ClientOf(b).ClientId, "reused"));
        await Assert.That(await other.RegistrationsAsync()).IsEqualTo(1);

        string clients = await h.StoredClientsJsonAsync();
        using (JsonDocument doc = JsonDocument.Parse(clients))
        {
            string[] issuers = [.. doc.RootElement.GetProperty("clients").EnumerateArray().Select(c => c.GetProperty("issuer").GetString()!)];
            await Assert.That(issuers.Order()).IsEquivalentTo(new[] { h.Issuer, other.Issuer }.Order(), CollectionOrdering.Matching);
        }

        // The operator's view and the way to drop one: `mcp oauth clients [forget]`.
        CliResult listed = await h.OnlineAsync("mcp", "oauth", "clients", "--issuer", other.Issuer);
        await Assert.That(listed.ExitCode).IsEqualTo(0).Because(listed.ToString());
        await Assert.That(listed.Stdout).Contains(other.Issuer + "  http://127.0.0.1:");
        await Assert.That(listed.Stdout).DoesNotContain(h.Issuer + "  ");
        string redirect = listed.Stdout.Split("  ")[1];
        CliResult forgot = await h.OnlineAsync("mcp", "oauth", "clients", "forget", "--issuer", other.Issuer, "--redirect-uri", redirect);
        await Assert.That(forgot.ExitCode).IsEqualTo(0).Because(forgot.ToString());
        CliResult twice = await h.OnlineAsync("mcp", "oauth", "clients", "forget", "--issuer", other.Issuer, "--redirect-uri", redirect);
        await Assert.That(twice.ExitCode).IsEqualTo(5).Because(twice.ToString());
        CliResult fresh = await h.LoginToAsync("other", other.Resource, null, daemon);
        await Assert.That(ClientOf(fresh).Source).IsEqualTo("registered");
        await Assert.That(await other.RegistrationsAsync()).IsEqualTo(2);

        await h.AssertNoLeaksAsync(a.All, b.All, again.All, clients, listed.All, forgot.All, fresh.All);
        await other.AssertNoLeaksAsync(a.All, b.All, again.All, clients, h.LoginBrowserLog, h.Daemon.Logs);
    }

    [Test]
    public async Task Offline_logins_reuse_the_client_kept_in_the_state_root()
    {
        if (PeersMissing()) { Skip.Test("oidc-provider / node@22 missing: run scripts/test-deps.sh"); }
        await using McpOauthHarness h = await McpOauthHarness.StartAsync();
        string root = h.Dir.File("offline-state");
        string[] offline = ["--offline", "--state-root", root];

        CliResult first = await h.LoginToAsync(McpOauthHarness.Server, h.Resource, null, offline);
        await Assert.That(first.ExitCode).IsEqualTo(0).Because(first + h.LoginBrowserLog);
        CliResult second = await h.LoginToAsync(McpOauthHarness.Server, h.Resource, null, offline);
        await Assert.That(second.ExitCode).IsEqualTo(0).Because(second + h.LoginBrowserLog);
        await Assert.That(ClientOf(second)).IsEqualTo((ClientOf(first).ClientId, "reused"));
        await Assert.That(await h.RegistrationsAsync()).IsEqualTo(1);
        await Assert.That(File.Exists(Path.Combine(root, "auth", "mcp-oauth-clients.json"))).IsTrue();

        CliResult status = await Support.Cli.RunAsync(["mcp", "oauth", "status", McpOauthHarness.Server, .. offline, "-o", "json"], h.Env);
        await Assert.That(status.Stdout).Contains("\"client_source\":\"reused\"");
        CliResult clients = await Support.Cli.RunAsync(["mcp", "oauth", "clients", .. offline, "-o", "json"], h.Env);
        await Assert.That(clients.ExitCode).IsEqualTo(0).Because(clients.ToString());
        await Assert.That(clients.Stdout).Contains($"\"client_id\":\"{ClientOf(first).ClientId}\"");
        await h.AssertNoLeaksAsync(first.All, second.All, status.All, clients.All);
    }
}
