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
        await Assert.That(r.Content.Headers.ContentType?.MediaType).IsEqualTo("application/problem+json");
        using JsonDocument doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }

    [Test]
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

        await Assert.That(refused.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(lax.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(ok.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(token.Length).IsEqualTo(64);
        await Assert.That(File.GetUnixFileMode(MintedTokenFile)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await Assert.That(daemon.Logs).Contains("admin token minted at " + MintedTokenFile);
        await Assert.That(daemon.Logs).DoesNotContain(token);
    }

    [Test]
    public async Task The_minted_token_is_reused_on_the_next_start()
    {
        await using (DaemonProcess first = await StartAsync())
        {
            await first.StopAsync();
        }

        string token = File.ReadAllText(MintedTokenFile).Trim();
        await using DaemonProcess second = await StartAsync();

        await Assert.That(File.ReadAllText(MintedTokenFile).Trim()).IsEqualTo(token);
    }

    [Test]
    public async Task The_online_cli_reads_the_minted_token_from_the_state_root()
    {
        await using DaemonProcess daemon = await StartAsync();

        CliResult r = await Support.Cli.RunAsync(["runtime", "auth", "subject", "agent:x", "--state-root", _dir.StateRoot, "--base-url", daemon.BaseUri.ToString(), "-o", "json"]);

        await Assert.That(r.ExitCode == 0).IsTrue();
        await Assert.That(r.Stdout).Contains("\"subject_id\":\"agent:x\"");
    }

    [Test]
    public async Task Auth_none_with_a_configured_token_refuses_to_start()
    {
        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(_dir.StateRoot, ["--http-auth-mode", "none"],
            new Dictionary<string, string?> { ["KHEISH_DAEMON_ADMIN_TOKEN"] = new string('a', 40) });

        await Assert.That(r.ExitCode).IsNotEqualTo(0);
        await Assert.That(r.Stderr).Contains("--http-auth-mode none turns control-plane auth off, but an admin token is configured");
        await Assert.That(r.All).DoesNotContain("listening on");
    }

    [Test]
    public async Task A_token_shorter_than_32_characters_refuses_to_start()
    {
        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(_dir.StateRoot, ["--http-admin-token", "short-token-123"]);

        await Assert.That(r.ExitCode).IsNotEqualTo(0);
        await Assert.That(r.Stderr).Contains("is 15 characters; use at least 32");
        await Assert.That(r.All).DoesNotContain("short-token-123");
    }

    [Test]
    [Arguments("/v1/status")]
    [Arguments("/agent/v1/whoami")]
    [Arguments("/healthz")]
    public async Task A_foreign_host_gets_421_problem_json_on_every_plane(string path)
    {
        await using DaemonProcess daemon = await StartAsync("--http-auth-mode", "none");
        using HttpClient client = daemon.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = "attacker.example";

        HttpResponseMessage r = await client.SendAsync(request);

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.MisdirectedRequest);
        JsonElement problem = await ProblemOf(r);
        await Assert.That(problem.GetProperty("code").GetString()).IsEqualTo("host_not_allowed");
        await Assert.That(problem.GetProperty("title").GetString()).IsEqualTo("Misdirected request");
    }

    [Test]
    public async Task An_allowed_host_name_is_served()
    {
        await using DaemonProcess daemon = await StartAsync("--http-auth-mode", "none", "--allowed-host", "kheish.internal");
        using HttpClient client = daemon.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/status");
        request.Headers.Host = "kheish.internal:4000";

        HttpResponseMessage r = await client.SendAsync(request);

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
    }

    [Test]
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

        await Assert.That(limited.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
        await Assert.That(ok.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(revoke.StatusCode).IsEqualTo(HttpStatusCode.OK);
        using JsonDocument status = JsonDocument.Parse(await ok.Content.ReadAsStringAsync());
        await Assert.That(status.RootElement.GetProperty("auth_audit_dropped").GetProperty("invalid_token").GetInt64() >= 9).IsTrue();
    }

    [Test]
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
        await Assert.That(size < 62 * 2048).IsTrue();
    }

    [Test]
    public async Task A_mixed_case_agent_path_with_an_admin_token_is_an_agent_plane_401_not_a_500()
    {
        string admin = "adm-" + Guid.NewGuid().ToString("N");
        await using DaemonProcess daemon = await StartAsync("--http-admin-token", admin);
        using HttpClient client = daemon.Client(admin);

        HttpResponseMessage r = await client.GetAsync("/AGENT/v1/whoami");

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        JsonElement problem = await ProblemOf(r);
        await Assert.That(problem.GetProperty("error").GetProperty("message").GetString()).IsEqualTo(problem.GetProperty("detail").GetString());
    }

    [Test]
    [Arguments("GET", "/v1/nothing-here", 404)]
    [Arguments("GET", "/agent/v1/nothing-here", 404)]
    [Arguments("DELETE", "/v1/status", 405)]
    public async Task Framework_errors_have_problem_json_bodies(string method, string path, int status)
    {
        WriteSecurityJson("lax");
        await using DaemonProcess daemon = await StartAsync("--http-auth-mode", "none");
        using HttpClient client = daemon.Client();
        using var request = new HttpRequestMessage(new HttpMethod(method), path);

        HttpResponseMessage r = await client.SendAsync(request);

        await Assert.That((int)r.StatusCode).IsEqualTo(status);
        JsonElement problem = await ProblemOf(r);
        await Assert.That(problem.GetProperty("status").GetInt32()).IsEqualTo(status);
        await Assert.That(string.IsNullOrEmpty(problem.GetProperty("detail").GetString())).IsFalse();
    }

    [Test]
    public async Task A_schema_mistake_names_the_unknown_field_and_the_expected_ones()
    {
        Directory.CreateDirectory(Project);
        await using DaemonProcess daemon = await StartAsync("--http-auth-mode", "none");
        using HttpClient client = daemon.Client();

        HttpResponseMessage r = await client.PostAsync("/v1/runtime/security/allowed-ips",
            new StringContent("{\"address\":\"10.0.0.1\"}", Encoding.UTF8, "application/json"));

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
        JsonElement problem = await ProblemOf(r);
        await Assert.That(problem.GetProperty("detail").GetString()).IsEqualTo("unknown field `address` (expected: `entry`, `allow_empty`)");
    }

    [Test]
    public async Task Revoke_slot_of_a_slot_that_does_not_exist_is_404_unless_forced()
    {
        await using DaemonProcess daemon = await StartAsync();
        string[] common = ["--state-root", _dir.StateRoot, "--base-url", daemon.BaseUri.ToString()];

        CliResult typo = await Support.Cli.RunAsync(["runtime", "auth", "revoke-slot", "openai.prdo", .. common]);
        CliResult forced = await Support.Cli.RunAsync(["runtime", "auth", "revoke-slot", "openai.prdo", "--force", .. common]);

        await Assert.That(typo.ExitCode).IsEqualTo(5);
        await Assert.That(typo.Stderr).Contains("no secret slot `openai.prdo` exists");
        await Assert.That(forced.ExitCode == 0).IsTrue();
    }

    [Test]
    public async Task Revoking_a_session_revokes_its_child_sessions()
    {
        await using DaemonProcess daemon = await StartAsync();
        using HttpClient admin = daemon.Client(File.ReadAllText(MintedTokenFile).Trim());
        (await admin.PostAsync("/v1/sessions", new StringContent("{\"session_id\":\"p1\"}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        (await admin.PostAsync("/v1/sessions", new StringContent("{\"session_id\":\"c1\",\"parent_session_id\":\"p1\"}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();

        HttpResponseMessage revoke = await admin.PostAsync("/v1/runtime/auth/subjects/session:p1/revoke", null);
        using JsonDocument child = JsonDocument.Parse(await admin.GetStringAsync("/v1/runtime/auth/subjects/session:c1"));
        HttpResponseMessage again = await admin.PostAsync("/v1/sessions", new StringContent("{\"session_id\":\"c2\",\"parent_session_id\":\"c1\"}", Encoding.UTF8, "application/json"));

        await Assert.That(revoke.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(child.RootElement.GetProperty("revoked").GetBoolean()).IsTrue();
        await Assert.That(again.StatusCode).IsEqualTo(HttpStatusCode.Conflict);
        await Assert.That((await ProblemOf(again)).GetProperty("code").GetString()).IsEqualTo("subject_revoked");
    }

    [Test]
    public async Task A_group_writable_security_json_is_refused_with_the_fix()
    {
        string file = WriteSecurityJson("lax", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);

        await using DaemonProcess daemon = await StartAsync("--http-auth-mode", "none");
        using HttpClient client = daemon.Client();

        HttpResponseMessage r = await client.GetAsync("/agent/v1/whoami");

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        await Assert.That((await ProblemOf(r)).GetProperty("detail").GetString()).Contains($"chmod 600 {file}");
    }
}
