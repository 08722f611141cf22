using System.Net;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.AgentPlane;

/// <summary>The agent plane on a real daemon: API keys from security.json, hot reload, planes kept apart.</summary>
public sealed class AgentPlaneHttpTests
{
    private readonly TempDir _dir = new();
    private readonly string _admin = "adm-" + Guid.NewGuid().ToString("N");
    private DaemonProcess _daemon = null!;
    private string _key = null!;
    private string _keyId = null!;

    private string Project => _dir.File("project");

    private Dictionary<string, string?> Env => new() { ["XDG_CONFIG_HOME"] = _dir.File("xdg") };

    [Before(Test)]
    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Project);
        (_key, _keyId) = await GenerateKeyAsync("agent:coder");
        _daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--http-admin-token", _admin, "--project-root", Project], Env);
    }

    [After(Test)]
    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        _dir.Dispose();
    }

    private async Task<(string Key, string Id)> GenerateKeyAsync(string principal)
    {
        CliResult r = await Support.Cli.RunAsync(["security", "generate-key", "--project-root", Project, "--principal", principal, "-o", "json"], Env);
        await Assert.That(r.ExitCode == 0).IsTrue();
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        return (doc.RootElement.GetProperty("key").GetString()!, doc.RootElement.GetProperty("id").GetString()!);
    }

    private HttpClient AgentClient(string? apiKey)
    {
        HttpClient c = _daemon.Client();
        if (apiKey is not null)
        {
            c.DefaultRequestHeaders.Add("X-API-Key", apiKey);
        }

        return c;
    }

    private static async Task<string> CodeOf(HttpResponseMessage r)
    {
        using JsonDocument doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        return doc.RootElement.GetProperty("code").GetString()!;
    }

    [Test]
    public async Task Whoami_names_the_principal_of_a_valid_key()
    {
        using HttpClient agent = AgentClient(_key);

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/whoami");

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
        string body = await r.Content.ReadAsStringAsync();
        await Assert.That(body).Contains("\"principal\":\"agent:coder\"");
        await Assert.That(body).Contains($"\"key_id\":\"{_keyId}\"");
        await Assert.That(body).Contains("\"mode\":\"strict\"");
        Canary.AssertAbsent(_key, body + _daemon.Logs, "whoami response and daemon logs");
    }

    [Test]
    public async Task Bearer_form_of_the_api_key_works_too()
    {
        using HttpClient agent = _daemon.Client(_key);

        await Assert.That((await agent.GetAsync("/agent/v1/whoami")).StatusCode).IsEqualTo(HttpStatusCode.OK);
    }

    [Test]
    public async Task Strict_mode_without_a_key_is_401_missing_api_key()
    {
        using HttpClient agent = AgentClient(null);

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/whoami");

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(await CodeOf(r)).IsEqualTo("missing_api_key");
        await Assert.That(r.Headers.WwwAuthenticate).IsNotEmpty();
    }

    [Test]
    public async Task The_admin_token_does_not_open_the_agent_plane()
    {
        using HttpClient withAdmin = _daemon.Client(_admin);

        HttpResponseMessage r = await withAdmin.GetAsync("/agent/v1/whoami");

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(await CodeOf(r)).IsEqualTo("invalid_api_key");
    }

    [Test]
    public async Task An_api_key_does_not_open_the_control_plane()
    {
        using HttpClient bearer = _daemon.Client(_key);
        using HttpClient header = AgentClient(_key);

        HttpResponseMessage a = await bearer.GetAsync("/v1/status");
        HttpResponseMessage b = await header.GetAsync("/v1/status");

        await Assert.That(a.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(await CodeOf(a)).IsEqualTo("invalid_token");
        await Assert.That(b.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(await CodeOf(b)).IsEqualTo("missing_token");
    }

    [Test]
    public async Task A_revoked_key_is_refused_on_the_next_request_without_restart()
    {
        (string key, string id) = await GenerateKeyAsync("agent:temp");
        using HttpClient agent = AgentClient(key);
        await Assert.That((await agent.GetAsync("/agent/v1/whoami")).StatusCode).IsEqualTo(HttpStatusCode.OK);

        CliResult revoke = await Support.Cli.RunAsync(["security", "revoke-key", id, "--project-root", Project], Env);
        HttpResponseMessage after = await agent.GetAsync("/agent/v1/whoami");

        await Assert.That(revoke.ExitCode).IsEqualTo(0);
        await Assert.That(after.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(await CodeOf(after)).IsEqualTo("invalid_api_key");
    }

    [Test]
    public async Task A_malformed_security_file_closes_the_agent_plane_but_not_the_control_plane()
    {
        string file = Path.Combine(Project, ".kheish", "security.json");
        string good = File.ReadAllText(file);
        try
        {
            File.WriteAllText(file, "{ \"mode\": \"strict\", ");
            using HttpClient agent = AgentClient(_key);
            using HttpClient admin = _daemon.Client(_admin);

            HttpResponseMessage refused = await agent.GetAsync("/agent/v1/whoami");
            HttpResponseMessage status = await admin.GetAsync("/v1/status");
            HttpResponseMessage ready = await admin.GetAsync("/readyz");

            await Assert.That(refused.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
            string body = await refused.Content.ReadAsStringAsync();
            await Assert.That(body).Contains("security.json");
            await Assert.That(status.StatusCode).IsEqualTo(HttpStatusCode.OK);
            await Assert.That(ready.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        }
        finally
        {
            File.WriteAllText(file, good);
        }
    }

    [Test]
    [Arguments("/.well-known/oauth-protected-resource")]
    [Arguments("/.well-known/oauth-authorization-server")]
    [Arguments("/register")]
    public async Task Oauth_discovery_probes_get_a_404_pointing_at_api_keys(string path)
    {
        using HttpClient agent = AgentClient(null);

        HttpResponseMessage r = await agent.GetAsync(path);

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.NotFound);
        await Assert.That(await CodeOf(r)).IsEqualTo("oauth_not_supported");
        await Assert.That(await r.Content.ReadAsStringAsync()).Contains("X-API-Key");
    }

    [Test]
    public async Task A_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored()
    {
        CliResult allow = await Support.Cli.RunAsync(["security", "allow-ip", "10.1.2.3", "--project-root", Project], Env);
        await Assert.That(allow.ExitCode).IsEqualTo(0);
        try
        {
            using HttpClient agent = AgentClient(_key);
            agent.DefaultRequestHeaders.Add("X-Forwarded-For", "10.1.2.3");

            HttpResponseMessage r = await agent.GetAsync("/agent/v1/whoami");

            await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Forbidden);
            await Assert.That(await CodeOf(r)).IsEqualTo("ip_not_allowed");
            await Assert.That(await r.Content.ReadAsStringAsync()).Contains("127.0.0.1");
        }
        finally
        {
            await Support.Cli.RunAsync(["security", "deny-ip", "10.1.2.3", "--project-root", Project, "--allow-empty"], Env);
        }
    }

    [Test]
    public async Task Lax_mode_on_a_network_bind_refuses_to_start_without_the_flag()
    {
        using var other = new TempDir();
        Directory.CreateDirectory(other.File("p"));
        var env = new Dictionary<string, string?> { ["XDG_CONFIG_HOME"] = other.File("xdg"), ["KHEISH_DAEMON_ADMIN_TOKEN"] = "adm-token-" + Guid.NewGuid().ToString("N") };
        CliResult mode = await Support.Cli.RunAsync(["security", "set-mode", "lax", "--project-root", other.File("p")], env);
        await Assert.That(mode.ExitCode).IsEqualTo(0);

        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(other.StateRoot, ["--bind", "0.0.0.0:0", "--project-root", other.File("p")], env);

        await Assert.That(r.ExitCode).IsNotEqualTo(0);
        await Assert.That(r.Stderr).Contains("--allow-lax-on-network");
    }

    [Test]
    public async Task An_offline_switch_to_lax_is_refused_while_a_network_bound_daemon_reads_the_file()
    {
        using var other = new TempDir();
        string project = other.File("p");
        Directory.CreateDirectory(project);
        var env = new Dictionary<string, string?> { ["XDG_CONFIG_HOME"] = other.File("xdg"), ["KHEISH_DAEMON_ADMIN_TOKEN"] = "adm-token-" + Guid.NewGuid().ToString("N") };
        await Assert.That((await Support.Cli.RunAsync(["security", "set-mode", "strict", "--project-root", project], env)).ExitCode).IsEqualTo(0);
        string file = Path.Combine(project, ".kheish", "security.json");
        string before = File.ReadAllText(file);

        await using (DaemonProcess network = await DaemonProcess.StartAsync(other.StateRoot, ["--bind", "0.0.0.0:0", "--project-root", project], env))
        {
            CliResult refused = await Support.Cli.RunAsync(["security", "set-mode", "lax", "--project-root", project, "--output", "json"], env);

            await Assert.That(refused.ExitCode).IsEqualTo(6);
            await Assert.That(refused.Stdout + refused.Stderr).Contains("lax_refused_by_running_daemon");
            await Assert.That(refused.Stdout + refused.Stderr).Contains("--allow-lax-on-network");
            await Assert.That(File.ReadAllText(file)).IsEqualTo(before);

            // A crash leaves the marker behind; with nobody holding its lock it no longer refuses.
            await network.StopAsync(kill: true);
        }

        CliResult after = await Support.Cli.RunAsync(["security", "set-mode", "lax", "--project-root", project], env);
        await Assert.That(after.ExitCode).IsEqualTo(0);
        await Assert.That(File.ReadAllText(file)).Contains("lax");
    }

    [Test]
    public async Task Keys_made_and_revoked_over_the_admin_api_take_effect_at_once()
    {
        using HttpClient admin = _daemon.Client(_admin);
        HttpResponseMessage made = await admin.PostAsync("/v1/runtime/security/keys",
            new StringContent("{\"principal\":\"agent:http-made\"}", System.Text.Encoding.UTF8, "application/json"));
        using JsonDocument doc = JsonDocument.Parse(await made.Content.ReadAsStringAsync());
        string key = doc.RootElement.GetProperty("key").GetString()!;
        string id = doc.RootElement.GetProperty("id").GetString()!;
        using HttpClient agent = AgentClient(key);

        HttpResponseMessage before = await agent.GetAsync("/agent/v1/whoami");
        string status = await admin.GetStringAsync("/v1/runtime/security");
        HttpResponseMessage revoked = await admin.DeleteAsync($"/v1/runtime/security/keys/{id}");
        HttpResponseMessage after = await agent.GetAsync("/agent/v1/whoami");

        await Assert.That(made.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(before.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(status).Contains("agent:http-made");
        Canary.AssertAbsent(key, status, "security status");
        await Assert.That(revoked.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(after.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
    }
}
