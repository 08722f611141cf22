using System.Net;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Serve;

public sealed class ControlPlaneAuthTests
{
    private readonly TempDir _dir = new();
    private readonly string _admin = "adm-" + Guid.NewGuid().ToString("N");
    private readonly string _readonly = "ro-" + Guid.NewGuid().ToString("N");
    private DaemonProcess _daemon = null!;

    [Before(Test)]
    public async Task InitializeAsync()
    {
        File.WriteAllText(_dir.File("admin.token"), _admin + "\n");
        File.WriteAllText(_dir.File("ro.token"), _readonly);
        _daemon = await DaemonProcess.StartAsync(_dir.StateRoot,
            ["--http-admin-token-file", _dir.File("admin.token"), "--http-readonly-token-file", _dir.File("ro.token")]);
    }

    [After(Test)]
    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        _dir.Dispose();
    }

    private string Token(string who) => who switch
    {
        "admin" => _admin,
        "readonly" => _readonly,
        "wrong" => "not-a-real-token",
        _ => throw new ArgumentOutOfRangeException(nameof(who)),
    };

    [Test]
    [Arguments("GET", "/v1/status", "none", 401, "missing_token")]
    [Arguments("GET", "/v1/status", "wrong", 401, "invalid_token")]
    [Arguments("GET", "/v1/status", "readonly", 200, null)]
    [Arguments("GET", "/v1/status", "admin", 200, null)]
    [Arguments("POST", "/v1/status", "readonly", 403, "insufficient_access")]
    [Arguments("GET", "/v1/no-such-endpoint", "readonly", 403, "insufficient_access")]
    [Arguments("GET", "/v1/no-such-endpoint", "admin", 404, null)]
    [Arguments("GET", "/v1/no-such-endpoint", "none", 401, "missing_token")]
    [Arguments("GET", "/healthz", "none", 200, null)]
    [Arguments("GET", "/readyz", "none", 200, null)]
    public async Task Access_matrix(string method, string path, string who, int status, string? code)
    {
        using HttpClient client = _daemon.Client(who == "none" ? null : Token(who));

        HttpResponseMessage r = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        await Assert.That((int)r.StatusCode).IsEqualTo(status);
        if (code is not null)
        {
            await Assert.That(r.Content.Headers.ContentType?.MediaType).IsEqualTo("application/problem+json");
            using JsonDocument body = JsonDocument.Parse(await r.Content.ReadAsStringAsync());
            await Assert.That(body.RootElement.GetProperty("code").GetString()).IsEqualTo(code);
            await Assert.That(body.RootElement.GetProperty("type").GetString()).IsEqualTo("urn:kheish:problem:" + code);
            await Assert.That(body.RootElement.GetProperty("status").GetInt32()).IsEqualTo(status);
        }
    }

    [Test]
    public async Task Unauthorized_answers_carry_www_authenticate()
    {
        using HttpClient client = _daemon.Client();

        HttpResponseMessage r = await client.GetAsync("/v1/status");

        await Assert.That(r.Headers.WwwAuthenticate.ToString()).IsEqualTo("Bearer realm=\"kheish-daemon\"");
    }

    [Test]
    [Arguments("Basic dXNlcjpwYXNz")]
    [Arguments("Bearer")]
    [Arguments("Bearer    ")]
    public async Task Malformed_authorization_is_malformed_token(string header)
    {
        using HttpClient client = _daemon.Client();
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/status");
        request.Headers.TryAddWithoutValidation("Authorization", header);

        HttpResponseMessage r = await client.SendAsync(request);

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(await r.Content.ReadAsStringAsync()).Contains("malformed_token");
    }

    [Test]
    public async Task Bearer_scheme_is_case_insensitive()
    {
        using HttpClient client = _daemon.Client();
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/status");
        request.Headers.TryAddWithoutValidation("Authorization", "bEaReR " + _admin);

        HttpResponseMessage r = await client.SendAsync(request);

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
    }

    [Test]
    public async Task Rotating_the_admin_token_file_takes_effect_without_restart()
    {
        string rotated = "adm2-" + Guid.NewGuid().ToString("N");
        await Task.Delay(20); // a distinct mtime even on coarse clocks; size differs anyway
        File.WriteAllText(_dir.File("admin.token"), rotated);

        using HttpClient oldClient = _daemon.Client(_admin);
        using HttpClient newClient = _daemon.Client(rotated);

        await Assert.That((await oldClient.GetAsync("/v1/status")).StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That((await newClient.GetAsync("/v1/status")).StatusCode).IsEqualTo(HttpStatusCode.OK);
    }

    [Test]
    public async Task Non_loopback_origin_is_refused_and_audited()
    {
        using HttpClient client = _daemon.Client(_admin);
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/status");
        request.Headers.Add("Origin", "https://evil.example");

        HttpResponseMessage r = await client.SendAsync(request);

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Forbidden);
        await Assert.That(await r.Content.ReadAsStringAsync()).Contains("origin_not_allowed");
        string audit = File.ReadAllText(Path.Combine(_dir.StateRoot, "control-plane-auth", "audit.jsonl"));
        await Assert.That(audit).Contains("\"event\":\"cors_rejected\"");
        await Assert.That(audit).Contains("https://evil.example");
    }

    [Test]
    public async Task Loopback_origin_is_allowed_and_echoed()
    {
        using HttpClient client = _daemon.Client(_admin);
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/status");
        request.Headers.Add("Origin", "http://localhost:5173");

        HttpResponseMessage r = await client.SendAsync(request);

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(r.Headers.GetValues("Access-Control-Allow-Origin").Single()).IsEqualTo("http://localhost:5173");
    }

    [Test]
    public async Task Failures_are_rate_limited_before_the_token_is_checked()
    {
        using HttpClient wrong = _daemon.Client("guess-" + Guid.NewGuid().ToString("N"));
        using HttpClient admin = _daemon.Client(_admin);
        for (int i = 0; i < 60; i++)
        {
            await Assert.That((await wrong.GetAsync("/v1/status")).StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        }

        HttpResponseMessage limited = await wrong.GetAsync("/v1/status");
        HttpResponseMessage evenValid = await admin.GetAsync("/v1/status");

        await Assert.That(limited.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
        await Assert.That(int.Parse(limited.Headers.GetValues("Retry-After").Single()) is > 0 and <= 60).IsTrue();
        await Assert.That(await limited.Content.ReadAsStringAsync()).Contains("rate_limited");
        // The limit applies before any token is examined, so a guesser learns nothing more.
        await Assert.That(evenValid.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
    }

    [Test]
    public async Task The_auth_audit_log_is_0600_and_never_holds_a_presented_token()
    {
        string guess = "guess-" + Guid.NewGuid().ToString("N");
        using HttpClient wrong = _daemon.Client(guess);
        await wrong.GetAsync("/v1/status");
        using HttpClient admin = _daemon.Client(_admin);
        await admin.GetAsync("/v1/status");

        string path = Path.Combine(_dir.StateRoot, "control-plane-auth", "audit.jsonl");
        string audit = File.ReadAllText(path);

        await Assert.That(audit).Contains("\"reason\":\"invalid_token\"");
        await Assert.That(audit).Contains("\"remote_addr\":\"127.0.0.1\"");
        await Assert.That(File.GetUnixFileMode(path)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Canary.AssertAbsentFromFiles(guess, _dir);
        Canary.AssertAbsentFromFiles(_admin, _dir, "admin.token");
        Canary.AssertAbsent(_admin, _daemon.Logs, "daemon logs");
    }
}
