using System.Net;
using System.Text;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Serve;

/// <summary>The secrets verbs without --offline, against a real running daemon.</summary>
public sealed class OnlineSecretsTests : IAsyncLifetime
{
    private readonly TempDir _dir = new();
    private readonly string _admin = "adm-" + Guid.NewGuid().ToString("N");
    private readonly string _readonly = "ro-" + Guid.NewGuid().ToString("N");
    private readonly string _masterKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    private DaemonProcess _daemon = null!;

    public async ValueTask InitializeAsync()
    {
        File.WriteAllText(_dir.File("admin.token"), _admin);
        _daemon = await DaemonProcess.StartAsync(
            _dir.StateRoot,
            ["--http-admin-token-file", _dir.File("admin.token"), "--http-readonly-token", _readonly],
            new Dictionary<string, string?> { ["KHEISH_AUTH_STORE_MASTER_KEY"] = _masterKey });
    }

    public async ValueTask DisposeAsync()
    {
        await _daemon.DisposeAsync();
        _dir.Dispose();
    }

    private Dictionary<string, string?> ClientEnv(string? token) => new()
    {
        ["KHEISH_DAEMON_URL"] = _daemon.BaseUri.ToString(),
        ["KHEISH_DAEMON_TOKEN"] = token,
    };

    [Fact]
    public async Task Set_list_get_delete_round_trip_through_the_daemon_without_leaking_the_value()
    {
        string canary = Canary.New("online");
        var env = ClientEnv(_admin);
        env["OPENAI_KEY"] = canary;

        CliResult set = await Support.Cli.RunAsync(["secrets", "set", "openai.prod", "--provider", "openai", "--from-env", "OPENAI_KEY"], env);
        CliResult list = await Support.Cli.RunAsync(["secrets", "list", "--output", "json"], env);
        CliResult get = await Support.Cli.RunAsync(["secrets", "get", "openai.prod"], env);
        CliResult del = await Support.Cli.RunAsync(["secrets", "delete", "openai.prod"], env);
        CliResult gone = await Support.Cli.RunAsync(["secrets", "get", "openai.prod"], env);

        Assert.True(set.ExitCode == 0, set.ToString());
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("\"slot_id\":\"openai.prod\"", list.Stdout);
        Assert.Contains("\"provider\":\"openai\"", list.Stdout);
        Assert.Equal(0, get.ExitCode);
        Assert.Contains("openai.prod", get.Stdout);
        Assert.Equal(0, del.ExitCode);
        Assert.Equal(5, gone.ExitCode);
        foreach (CliResult r in new[] { set, list, get, del, gone })
        {
            Canary.AssertAbsent(canary, r.All, "CLI output");
        }

        Canary.AssertAbsent(canary, _daemon.Logs, "daemon logs");
        Canary.AssertAbsentFromFiles(canary, _dir);
    }

    [Fact]
    public async Task The_value_sits_only_in_the_encrypted_store()
    {
        string canary = Canary.New("stored");
        var env = ClientEnv(_admin);

        CliResult set = await Support.Cli.RunAsync(["secrets", "set", "anthropic.prod", "--provider", "anthropic", "--stdin"], env, stdin: canary + "\n");
        using HttpClient admin = _daemon.Client(_admin);
        string listBody = await admin.GetStringAsync("/v1/runtime/secrets");
        string oneBody = await admin.GetStringAsync("/v1/runtime/secrets/anthropic.prod");

        Assert.True(set.ExitCode == 0, set.ToString());
        Assert.Contains("anthropic.prod", listBody);
        Canary.AssertAbsent(canary, listBody + oneBody, "HTTP responses");
        Canary.AssertAbsentFromFiles(canary, _dir); // includes the store: it is encrypted
        Assert.True(File.Exists(Path.Combine(_dir.StateRoot, "auth", "global-slots.json")));
    }

    [Theory]
    [InlineData(null, 4)]
    [InlineData("readonly", 4)]
    [InlineData("wrong", 4)]
    public async Task Online_secrets_need_the_admin_token(string? who, int exit)
    {
        string? token = who switch { "readonly" => _readonly, "wrong" => "nope-nope-nope", _ => null };

        CliResult r = await Support.Cli.RunAsync(["secrets", "list"], ClientEnv(token));

        Assert.Equal(exit, r.ExitCode);
    }

    [Fact]
    public async Task Readonly_token_cannot_read_secret_metadata_over_http()
    {
        using HttpClient ro = _daemon.Client(_readonly);

        HttpResponseMessage r = await ro.GetAsync("/v1/runtime/secrets");

        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
    }

    [Theory]
    [InlineData("{not json", "invalid_body")]
    [InlineData("{\"slot_id\":\"a\",\"provider\":\"openai\",\"value\":\"x\",\"surprise\":1}", "invalid_body")]
    [InlineData("{\"slot_id\":\"../etc\",\"provider\":\"openai\",\"value\":\"x\"}", "invalid_slot_id")]
    [InlineData("{\"slot_id\":\"a\",\"provider\":\"nope\",\"value\":\"x\"}", "invalid_provider")]
    [InlineData("{\"slot_id\":\"a\",\"provider\":\"openai\"}", "invalid_body")]
    public async Task Bad_bodies_get_a_precise_problem_and_change_nothing(string body, string code)
    {
        using HttpClient admin = _daemon.Client(_admin);
        string before = await admin.GetStringAsync("/v1/runtime/secrets");

        HttpResponseMessage r = await admin.PostAsync("/v1/runtime/secrets", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Contains($"\"code\":\"{code}\"", await r.Content.ReadAsStringAsync());
        Assert.Equal(before, await admin.GetStringAsync("/v1/runtime/secrets"));
    }

    [Fact]
    public async Task Oversized_body_gets_413()
    {
        using HttpClient admin = _daemon.Client(_admin);
        string huge = "{\"slot_id\":\"a\",\"provider\":\"openai\",\"value\":\"" + new string('x', 2 * 1024 * 1024) + "\"}";

        // As curl does for large bodies: the server refuses on the declared length, before the upload.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/runtime/secrets")
        {
            Content = new StringContent(huge, Encoding.UTF8, "application/json"),
        };
        request.Headers.ExpectContinue = true;

        HttpResponseMessage r = await admin.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        Assert.Contains("payload_too_large", await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Unreachable_daemon_exits_3_and_suggests_offline()
    {
        CliResult r = await Support.Cli.RunAsync(["secrets", "list"], new Dictionary<string, string?> { ["KHEISH_DAEMON_URL"] = "http://127.0.0.1:1" });

        Assert.Equal(3, r.ExitCode);
        Assert.Contains("--offline", r.Stderr);
    }
}
