using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Hardening;

/// <summary>Issue 12 on the real binary: secure local defaults, no lockout, exact errors.</summary>
public sealed class SecureDefaultsTests : IDisposable
{
    private readonly TempDir _dir = new();

    public SecureDefaultsTests() => Directory.CreateDirectory(Project);

    public void Dispose() => _dir.Dispose();

    private Dictionary<string, string?> Env => new() { ["XDG_CONFIG_HOME"] = _dir.File("xdg") };

    private string Project => _dir.File("proj");

    private Task<DaemonProcess> StartAsync(params string[] args) =>
        DaemonProcess.StartAsync(_dir.StateRoot, [.. args, "--project-root", Project], Env);

    private string WriteSecurityJson(string mode, UnixFileMode fileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        string kheish = Path.Combine(Project, ".kheish");
        Directory.CreateDirectory(kheish);
        string file = Path.Combine(kheish, "security.json");
        File.WriteAllText(file, $"{{\"mode\":\"{mode}\",\"api_keys\":[],\"allowed_ips\":[],\"trusted_proxies\":[]}}");
        File.SetUnixFileMode(file, fileMode);
        return file;
    }

    private string MintedTokenFile => Path.Combine(_dir.StateRoot, "control-plane-auth", "admin.token");

    private static async Task<JsonElement> ProblemOf(HttpResponseMessage r)
    {
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        using JsonDocument doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }

    [Fact]
    public async Task Auto_mode_on_loopback_mints_a_private_admin_token_and_the_control_plane_needs_it()
    {
        await using DaemonProcess daemon = await StartAsync();
        using HttpClient anonymous = new() { BaseAddress = daemon.BaseUri };

        HttpResponseMessage refused = await anonymous.GetAsync("/v1/status");
        HttpResponseMessage lax = await anonymous.PutAsync("/v1/runtime/security/mode",
            new StringContent("{\"mode\":\"lax\"}", Encoding.UTF8, "application/json"));
        string token = File.ReadAllText(MintedTokenFile).Trim();
        using HttpClient admin = daemon.Client(token);
        HttpResponseMessage ok = await admin.GetAsync("/v1/status");

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, lax.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(64, token.Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(MintedTokenFile));
        Assert.Contains("admin token minted at " + MintedTokenFile, daemon.Logs);
        Assert.DoesNotContain(token, daemon.Logs);
    }

    [Fact]
    public async Task The_minted_token_is_reused_on_the_next_start()
    {
        await using (DaemonProcess first = await StartAsync())
        {
            await first.StopAsync();
        }

        string token = File.ReadAllText(MintedTokenFile).Trim();
        await using DaemonProcess second = await StartAsync();

        Assert.Equal(token, File.ReadAllText(MintedTokenFile).Trim());
    }

    [Fact]
    public async Task The_online_cli_reads_the_minted_token_from_the_state_root()
    {
        await using DaemonProcess daemon = await StartAsync();

        CliResult r = await Support.Cli.RunAsync(["runtime", "auth", "subject", "agent:x", "--state-root", _dir.StateRoot, "--base-url", daemon.BaseUri.ToString(), "-o", "json"]);

        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("\"subject_id\":\"agent:x\"", r.Stdout);
    }

    [Fact]
    public async Task Auth_none_with_a_configured_token_refuses_to_start()
    {
        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(_dir.StateRoot, ["--http-auth-mode", "none"],
            new Dictionary<string, string?> { ["KHEISH_DAEMON_ADMIN_TOKEN"] = new string('a', 40) });

        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--http-auth-mode none turns control-plane auth off, but an admin token is configured", r.Stderr);
        Assert.DoesNotContain("listening on", r.All);
    }

    [Fact]
    public async Task A_token_shorter_than_32_characters_refuses_to_start()
    {
        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(_dir.StateRoot, ["--http-admin-token", "short-token-123"]);

        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("is 15 characters; use at least 32", r.Stderr);
        Assert.DoesNotContain("short-token-123", r.All);
    }

    [Theory]
    [InlineData("/v1/status")]
    [InlineData("/agent/v1/whoami")]
    [InlineData("/healthz")]
    public async Task A_foreign_host_gets_421_problem_json_on_every_plane(string path)
    {
        await using DaemonProcess daemon = await StartAsync("--http-auth-mode", "none");
        using HttpClient client = daemon.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = "attacker.example";

        HttpResponseMessage r = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.MisdirectedRequest, r.StatusCode);
        JsonElement problem = await ProblemOf(r);
        Assert.Equal("host_not_allowed", problem.GetProperty("code").GetString());
        Assert.Equal("Misdirected request", problem.GetProperty("title").GetString());
    }

    [Fact]
    public async Task An_allowed_host_name_is_served()
    {
        await using DaemonProcess daemon = await StartAsync("--http-auth-mode", "none", "--allowed-host", "kheish.internal");
        using HttpClient client = daemon.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/status");
        request.Headers.Host = "kheish.internal:4000";

        HttpResponseMessage r = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    [Fact]
    public async Task Many_bad_tokens_never_lock_out_the_valid_token()
    {
        string admin = "adm-" + Guid.NewGuid().ToString("N");
        await using DaemonProcess daemon = await StartAsync("--http-admin-token", admin);
        using HttpClient attacker = daemon.Client("wrong-" + Guid.NewGuid().ToString("N"));
        for (int i = 0; i < 70; i++)
        {
            (await attacker.GetAsync("/v1/status")).Dispose();
        }

        HttpResponseMessage limited = await attacker.GetAsync("/v1/status");
        using HttpClient operatorClient = daemon.Client(admin);
        HttpResponseMessage ok = await operatorClient.GetAsync("/v1/status");
        HttpResponseMessage revoke = await operatorClient.PostAsync("/v1/runtime/auth/subjects/agent:x/revoke", null);

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        using JsonDocument status = JsonDocument.Parse(await ok.Content.ReadAsStringAsync());
        Assert.True(status.RootElement.GetProperty("auth_audit_dropped").GetProperty("invalid_token").GetInt64() >= 9);
    }

    [Fact]
    public async Task Foreign_origin_floods_do_not_grow_the_audit_log_without_bound()
    {
        await using DaemonProcess daemon = await StartAsync("--http-auth-mode", "none");
        using HttpClient client = daemon.Client();
        for (int i = 0; i < 300; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/" + new string('p', 3000));
            request.Headers.TryAddWithoutValidation("Origin", "https://evil.example/" + new string('o', 1000));
            (await client.SendAsync(request)).Dispose();
        }

        long size = new FileInfo(Path.Combine(_dir.StateRoot, "control-plane-auth", "audit.jsonl")).Length;

        // At most the limit's worth of entries (60 + one rate_limited line), each bounded.
        Assert.True(size < 62 * 2048, $"audit log is {size} bytes");
    }

    [Fact]
    public async Task A_mixed_case_agent_path_with_an_admin_token_is_an_agent_plane_401_not_a_500()
    {
        string admin = "adm-" + Guid.NewGuid().ToString("N");
        await using DaemonProcess daemon = await StartAsync("--http-admin-token", admin);
        using HttpClient client = daemon.Client(admin);

        HttpResponseMessage r = await client.GetAsync("/AGENT/v1/whoami");

        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        JsonElement problem = await ProblemOf(r);
        Assert.Equal(problem.GetProperty("detail").GetString(), problem.GetProperty("error").GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("GET", "/v1/nothing-here", 404)]
    [InlineData("GET", "/agent/v1/nothing-here", 404)]
    [InlineData("DELETE", "/v1/status", 405)]
    public async Task Framework_errors_have_problem_json_bodies(string method, string path, int status)
    {
        WriteSecurityJson("lax");
        await using DaemonProcess daemon = await StartAsync("--http-auth-mode", "none");
        using HttpClient client = daemon.Client();
        using var request = new HttpRequestMessage(new HttpMethod(method), path);

        HttpResponseMessage r = await client.SendAsync(request);

        Assert.Equal(status, (int)r.StatusCode);
        JsonElement problem = await ProblemOf(r);
        Assert.Equal(status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()));
    }

    [Fact]
    public async Task A_schema_mistake_names_the_unknown_field_and_the_expected_ones()
    {
        Directory.CreateDirectory(Project);
        await using DaemonProcess daemon = await StartAsync("--http-auth-mode", "none");
        using HttpClient client = daemon.Client();

        HttpResponseMessage r = await client.PostAsync("/v1/runtime/security/allowed-ips",
            new StringContent("{\"address\":\"10.0.0.1\"}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        JsonElement problem = await ProblemOf(r);
        Assert.Equal("unknown field `address` (expected: `entry`, `allow_empty`)", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Revoke_slot_of_a_slot_that_does_not_exist_is_404_unless_forced()
    {
        await using DaemonProcess daemon = await StartAsync();
        string[] common = ["--state-root", _dir.StateRoot, "--base-url", daemon.BaseUri.ToString()];

        CliResult typo = await Support.Cli.RunAsync(["runtime", "auth", "revoke-slot", "openai.prdo", .. common]);
        CliResult forced = await Support.Cli.RunAsync(["runtime", "auth", "revoke-slot", "openai.prdo", "--force", .. common]);

        Assert.Equal(5, typo.ExitCode);
        Assert.Contains("no secret slot `openai.prdo` exists", typo.Stderr);
        Assert.True(forced.ExitCode == 0, forced.ToString());
    }

    [Fact]
    public async Task Revoking_a_session_revokes_its_child_sessions()
    {
        await using DaemonProcess daemon = await StartAsync();
        using HttpClient admin = daemon.Client(File.ReadAllText(MintedTokenFile).Trim());
        (await admin.PostAsync("/v1/sessions", new StringContent("{\"session_id\":\"p1\"}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        (await admin.PostAsync("/v1/sessions", new StringContent("{\"session_id\":\"c1\",\"parent_session_id\":\"p1\"}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();

        HttpResponseMessage revoke = await admin.PostAsync("/v1/runtime/auth/subjects/session:p1/revoke", null);
        using JsonDocument child = JsonDocument.Parse(await admin.GetStringAsync("/v1/runtime/auth/subjects/session:c1"));
        HttpResponseMessage again = await admin.PostAsync("/v1/sessions", new StringContent("{\"session_id\":\"c2\",\"parent_session_id\":\"c1\"}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        Assert.True(child.RootElement.GetProperty("revoked").GetBoolean());
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal("subject_revoked", (await ProblemOf(again)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_group_writable_security_json_is_refused_with_the_fix()
    {
        string file = WriteSecurityJson("lax", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);

        await using DaemonProcess daemon = await StartAsync("--http-auth-mode", "none");
        using HttpClient client = daemon.Client();

        HttpResponseMessage r = await client.GetAsync("/agent/v1/whoami");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        Assert.Contains($"chmod 600 {file}", (await ProblemOf(r)).GetProperty("detail").GetString());
    }
}
