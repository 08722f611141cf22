using System.Net;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Serve;

public sealed class ServeStartupTests : IDisposable
{
    private readonly TempDir _dir = new();

    public static IEnumerable<(string[], string)> Refusals =>
    [
        (["--http-auth-mode", "none", "--bind", "0.0.0.0:0"], "only allowed on a loopback bind"),
        (["--http-auth-mode", "bearer"], "needs an admin token"),
        (["--http-auth-mode", "sometimes"], "unknown --http-auth-mode 'sometimes'"),
        (["--bind", "0.0.0.0:0"], "exposes the control plane beyond loopback"),
        (["--http-readonly-token", "ro-token-1234"], "read-only token was given without an admin token"),
        (["--http-admin-token", "same-token-1234", "--http-readonly-token", "same-token-1234"], "identical"),
        (["--http-admin-token", "a-token-1234", "--http-admin-token-file", "/nonexistent"], "not both"),
        (["--http-admin-token-file", "/nonexistent/admin.token"], "cannot read the admin token file /nonexistent/admin.token"),
        (["--bind", "not-an-address"], "is not host:port"),
    ];

    [Test]
    [MethodDataSource(nameof(Refusals))]
    public async Task Serve_refuses_to_start_with_one_clear_message(string[] args, string expected)
    {
        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(_dir.StateRoot, args);

        await Assert.That(r.ExitCode).IsNotEqualTo(0);
        await Assert.That(r.Stderr).Contains(expected);
        await Assert.That(r.All).DoesNotContain("listening on");
        await Assert.That(r.All).DoesNotContain("   at "); // no stack trace
    }

    [Test]
    public async Task Env_admin_token_and_env_admin_token_file_together_are_refused()
    {
        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(_dir.StateRoot, [], new Dictionary<string, string?>
        {
            ["KHEISH_DAEMON_ADMIN_TOKEN"] = "abc-token-123",
            ["KHEISH_DAEMON_ADMIN_TOKEN_FILE"] = _dir.File("t"),
        });

        await Assert.That(r.ExitCode).IsNotEqualTo(0);
        await Assert.That(r.Stderr).Contains("KHEISH_DAEMON_ADMIN_TOKEN and KHEISH_DAEMON_ADMIN_TOKEN_FILE are both set");
    }

    [Test]
    public async Task A_second_daemon_on_the_same_state_root_is_refused()
    {
        await using DaemonProcess first = await DaemonProcess.StartAsync(_dir.StateRoot);

        CliResult second = await DaemonProcess.RunExpectingRefusalAsync(_dir.StateRoot, []);

        await Assert.That(second.ExitCode).IsEqualTo(6);
        await Assert.That(second.Stderr).Contains("a daemon is running on this state root");
    }

    [Test]
    public async Task Serve_creates_a_0700_state_root_and_answers_health_without_auth()
    {
        string admin = "admin-" + Guid.NewGuid().ToString("N");
        await using DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--http-admin-token", admin]);
        using HttpClient client = daemon.Client();

        HttpResponseMessage health = await client.GetAsync("/healthz");
        HttpResponseMessage ready = await client.GetAsync("/readyz");

        await Assert.That(health.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(await health.Content.ReadAsStringAsync()).IsEqualTo("{\"status\":\"ok\"}");
        await Assert.That(ready.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(File.GetUnixFileMode(_dir.StateRoot)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Canary.AssertAbsent(admin, daemon.Logs, "daemon logs");
    }

    [Test]
    public async Task Sigterm_stops_cleanly_and_releases_the_lock()
    {
        // Disposed (killed if still running) even when the stop fails, so no daemon outlives the test.
        await using DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot);

        int exit = await daemon.StopAsync();

        await Assert.That(exit).IsEqualTo(0);
        await Assert.That(daemon.Logs).Contains("stopped");
        await using DaemonProcess again = await DaemonProcess.StartAsync(_dir.StateRoot);
        await Assert.That(again.HasExited).IsFalse();
    }

    [Test]
    public async Task Sigterm_with_a_request_in_flight_drains_for_a_bounded_time_then_exits_0()
    {
        // A stop that outlasts System.CommandLine's 2 s termination timeout used to exit 143 (as
        // if killed) while the host was still draining; a loaded CI machine hit it on a plain stop.
        await using DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot);
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(daemon.BaseUri.Host, daemon.BaseUri.Port);
        System.Net.Sockets.NetworkStream stream = tcp.GetStream();
        // One complete request proves the connection is being served; then headers and the first
        // byte of a 1000-byte body keep a second request in flight.
        await stream.WriteAsync("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray());
        byte[] buffer = new byte[4096];
        int read = await stream.ReadAsync(buffer);
        await Assert.That(System.Text.Encoding.ASCII.GetString(buffer, 0, read)).StartsWith("HTTP/1.1 200");
        await stream.WriteAsync("POST /agent/v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"u8.ToArray());
        await Task.Delay(300);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        int exit = await daemon.StopAsync();
        watch.Stop();

        await Assert.That(exit).IsEqualTo(0);
        await Assert.That(daemon.Logs).Contains("stopped");
        // It waited for the request (past the old 2 s cut-off) but not the host's 30 s default.
        await Assert.That(watch.Elapsed).IsGreaterThan(TimeSpan.FromSeconds(2.5));
        await Assert.That(watch.Elapsed).IsLessThan(TimeSpan.FromSeconds(15));
    }

    [Test]
    public async Task A_token_rotated_by_swapping_a_symlink_takes_effect_on_the_next_request()
    {
        // How orchestrators rotate mounted secrets: the path is a symlink that is re-pointed.
        string first = "tok-a-" + Guid.NewGuid().ToString("N");
        string second = "tok-b-" + Guid.NewGuid().ToString("N");
        File.WriteAllText(_dir.File("a.token"), first);
        File.WriteAllText(_dir.File("b.token"), second);
        File.CreateSymbolicLink(_dir.File("admin.token"), _dir.File("a.token"));
        await using DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--http-admin-token-file", _dir.File("admin.token")]);
        using HttpClient a = daemon.Client(first);
        using HttpClient b = daemon.Client(second);
        await Assert.That((await a.GetAsync("/v1/status")).StatusCode).IsEqualTo(HttpStatusCode.OK);

        File.CreateSymbolicLink(_dir.File("admin.token.new"), _dir.File("b.token"));
        File.Move(_dir.File("admin.token.new"), _dir.File("admin.token"), overwrite: true);

        await Assert.That((await a.GetAsync("/v1/status")).StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That((await b.GetAsync("/v1/status")).StatusCode).IsEqualTo(HttpStatusCode.OK);
    }

    [Test]
    public async Task Status_is_json_in_the_hosts_encoding_with_the_version_as_printed()
    {
        string admin = "admin-" + Guid.NewGuid().ToString("N");
        CliResult version = await Support.Cli.RunAsync("--version");
        await using DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--http-admin-token", admin]);
        using HttpClient client = daemon.Client(admin);

        HttpResponseMessage status = await client.GetAsync("/v1/status");
        string body = await status.Content.ReadAsStringAsync();

        await Assert.That(status.Content.Headers.ContentType?.ToString()).IsEqualTo("application/json; charset=utf-8");
        // "0.1.0+<commit>": the '+' is written as is (the host's relaxed encoder), not as \u002B.
        await Assert.That(body).StartsWith($"{{\"version\":\"{version.Stdout.Split('\n')[0].Trim()}\",");
        using var json = System.Text.Json.JsonDocument.Parse(body);
        await Assert.That(json.RootElement.GetProperty("checks").GetProperty("state_root").GetString()).IsEqualTo("ok");
        await Assert.That(json.RootElement.GetProperty("agent_plane_config_origin").GetString()).IsEqualTo("default");
        await Assert.That(json.RootElement.GetProperty("auth_audit_dropped").EnumerateObject().Count()).IsEqualTo(0);
    }

    public void Dispose() => _dir.Dispose();
}
