using System.Net;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.AgentPlane;

/// <summary>The agent plane on a real daemon: API keys from security.json, hot reload, planes kept apart.</summary>
public sealed class AgentPlaneHttpTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private readonly string _admin = "adm-" + Guid.NewGuid().ToString("N");
    private DaemonProcess _daemon = null!;
    private string _key = null!;
    private string _keyId = null!;

    private string Project => _dir.File("project");

    private Dictionary<string, string?> Env => new() { ["XDG_CONFIG_HOME"] = _dir.File("xdg") };

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Project);
        (_key, _keyId) = await GenerateKeyAsync("agent:coder");
        _daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--http-admin-token", _admin, "--project-root", Project], Env);
    }

    public async ValueTask DisposeAsync()
    {
        await _daemon.DisposeAsync();
        _dir.Dispose();
    }

    private async Task<(string Key, string Id)> GenerateKeyAsync(string principal)
    {
        CliResult r = await Support.Cli.RunAsync(["security", "generate-key", "--project-root", Project, "--principal", principal, "-o", "json"], Env);
        Assert.True(r.ExitCode == 0, r.ToString());
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

    [Fact]
    public async Task Whoami_names_the_principal_of_a_valid_key()
    {
        using HttpClient agent = AgentClient(_key);

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/whoami");

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        string body = await r.Content.ReadAsStringAsync();
        Assert.Contains("\"principal\":\"agent:coder\"", body);
        Assert.Contains($"\"key_id\":\"{_keyId}\"", body);
        Assert.Contains("\"mode\":\"strict\"", body);
        Canary.AssertAbsent(_key, body + _daemon.Logs, "whoami response and daemon logs");
    }

    [Fact]
    public async Task Bearer_form_of_the_api_key_works_too()
    {
        using HttpClient agent = _daemon.Client(_key);

        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/agent/v1/whoami")).StatusCode);
    }

    [Fact]
    public async Task Strict_mode_without_a_key_is_401_missing_api_key()
    {
        using HttpClient agent = AgentClient(null);

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/whoami");

        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        Assert.Equal("missing_api_key", await CodeOf(r));
        Assert.NotEmpty(r.Headers.WwwAuthenticate);
    }

    [Fact]
    public async Task The_admin_token_does_not_open_the_agent_plane()
    {
        using HttpClient withAdmin = _daemon.Client(_admin);

        HttpResponseMessage r = await withAdmin.GetAsync("/agent/v1/whoami");

        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        Assert.Equal("invalid_api_key", await CodeOf(r));
    }

    [Fact]
    public async Task An_api_key_does_not_open_the_control_plane()
    {
        using HttpClient bearer = _daemon.Client(_key);
        using HttpClient header = AgentClient(_key);

        HttpResponseMessage a = await bearer.GetAsync("/v1/status");
        HttpResponseMessage b = await header.GetAsync("/v1/status");

        Assert.Equal(HttpStatusCode.Unauthorized, a.StatusCode);
        Assert.Equal("invalid_token", await CodeOf(a));
        Assert.Equal(HttpStatusCode.Unauthorized, b.StatusCode);
        Assert.Equal("missing_token", await CodeOf(b));
    }

    [Fact]
    public async Task A_revoked_key_is_refused_on_the_next_request_without_restart()
    {
        (string key, string id) = await GenerateKeyAsync("agent:temp");
        using HttpClient agent = AgentClient(key);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/agent/v1/whoami")).StatusCode);

        CliResult revoke = await Support.Cli.RunAsync(["security", "revoke-key", id, "--project-root", Project], Env);
        HttpResponseMessage after = await agent.GetAsync("/agent/v1/whoami");

        Assert.Equal(0, revoke.ExitCode);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
        Assert.Equal("invalid_api_key", await CodeOf(after));
    }

    [Fact]
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

            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            string body = await refused.Content.ReadAsStringAsync();
            Assert.Contains("security.json", body);
            Assert.Equal(HttpStatusCode.OK, status.StatusCode);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        }
        finally
        {
            File.WriteAllText(file, good);
        }
    }

    [Theory]
    [InlineData("/.well-known/oauth-protected-resource")]
    [InlineData("/.well-known/oauth-authorization-server")]
    [InlineData("/register")]
    public async Task Oauth_discovery_probes_get_a_404_pointing_at_api_keys(string path)
    {
        using HttpClient agent = AgentClient(null);

        HttpResponseMessage r = await agent.GetAsync(path);

        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        Assert.Equal("oauth_not_supported", await CodeOf(r));
        Assert.Contains("X-API-Key", await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored()
    {
        CliResult allow = await Support.Cli.RunAsync(["security", "allow-ip", "10.1.2.3", "--project-root", Project], Env);
        Assert.Equal(0, allow.ExitCode);
        try
        {
            using HttpClient agent = AgentClient(_key);
            agent.DefaultRequestHeaders.Add("X-Forwarded-For", "10.1.2.3");

            HttpResponseMessage r = await agent.GetAsync("/agent/v1/whoami");

            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
            Assert.Equal("ip_not_allowed", await CodeOf(r));
            Assert.Contains("127.0.0.1", await r.Content.ReadAsStringAsync());
        }
        finally
        {
            await Support.Cli.RunAsync(["security", "deny-ip", "10.1.2.3", "--project-root", Project, "--allow-empty"], Env);
        }
    }

    [Fact]
    public async Task Lax_mode_on_a_network_bind_refuses_to_start_without_the_flag()
    {
        using var other = new TempDir();
        Directory.CreateDirectory(other.File("p"));
        var env = new Dictionary<string, string?> { ["XDG_CONFIG_HOME"] = other.File("xdg"), ["KHEISH_DAEMON_ADMIN_TOKEN"] = "adm-token-" + Guid.NewGuid().ToString("N") };
        CliResult mode = await Support.Cli.RunAsync(["security", "set-mode", "lax", "--project-root", other.File("p")], env);
        Assert.Equal(0, mode.ExitCode);

        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(other.StateRoot, ["--bind", "0.0.0.0:0", "--project-root", other.File("p")], env);

        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--allow-lax-on-network", r.Stderr);
    }

    [Fact]
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

        Assert.Equal(HttpStatusCode.OK, made.StatusCode);
        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Contains("agent:http-made", status);
        Canary.AssertAbsent(key, status, "security status");
        Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
    }
}
