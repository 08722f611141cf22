using System.Net;
using System.Text;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Serve;

/// <summary>The secrets verbs without --offline, against a real running daemon.</summary>
public sealed class OnlineSecretsTests
{
    private readonly TempDir _dir = new();
    private readonly string _admin = "adm-" + Guid.NewGuid().ToString("N");
    private readonly string _readonly = "ro-" + Guid.NewGuid().ToString("N");
    private readonly string _masterKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
    private DaemonProcess _daemon = null!;

    [Before(Test)]
    public async Task InitializeAsync()
    {
        File.WriteAllText(_dir.File("admin.token"), _admin);
        _daemon = await DaemonProcess.StartAsync(
            _dir.StateRoot,
            ["--http-admin-token-file", _dir.File("admin.token"), "--http-readonly-token", _readonly],
            new Dictionary<string, string?> { ["KHEISH_AUTH_STORE_MASTER_KEY"] = _masterKey });
    }

    [After(Test)]
    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        _dir.Dispose();
    }

    private Dictionary<string, string?> ClientEnv(string? token) => new()
    {
        ["KHEISH_DAEMON_URL"] = _daemon.BaseUri.ToString(),
        ["KHEISH_DAEMON_TOKEN"] = token,
    };

    [Test]
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

        await Assert.That(set.ExitCode == 0).IsTrue();
        await Assert.That(list.ExitCode).IsEqualTo(0);
        await Assert.That(list.Stdout).Contains("\"slot_id\":\"openai.prod\"");
        await Assert.That(list.Stdout).Contains("\"provider\":\"openai\"");
        await Assert.That(get.ExitCode).IsEqualTo(0);
        await Assert.That(get.Stdout).Contains("openai.prod");
        await Assert.That(del.ExitCode).IsEqualTo(0);
        await Assert.That(gone.ExitCode).IsEqualTo(5);
        foreach (CliResult r in new[] { set, list, get, del, gone })
        {
            Canary.AssertAbsent(canary, r.All, "CLI output");
        }

        Canary.AssertAbsent(canary, _daemon.Logs, "daemon logs");
        Canary.AssertAbsentFromFiles(canary, _dir);
    }

    [Test]
    public async Task The_value_sits_only_in_the_encrypted_store()
    {
        string canary = Canary.New("stored");
        var env = ClientEnv(_admin);

        CliResult set = await Support.Cli.RunAsync(["secrets", "set", "anthropic.prod", "--provider", "anthropic", "--stdin"], env, stdin: canary + "\n");
        using HttpClient admin = _daemon.Client(_admin);
        string listBody = await admin.GetStringAsync("/v1/runtime/secrets");
        string oneBody = await admin.GetStringAsync("/v1/runtime/secrets/anthropic.prod");

        await Assert.That(set.ExitCode == 0).IsTrue();
        await Assert.That(listBody).Contains("anthropic.prod");
        Canary.AssertAbsent(canary, listBody + oneBody, "HTTP responses");
        Canary.AssertAbsentFromFiles(canary, _dir); // includes the store: it is encrypted
        await Assert.That(File.Exists(Path.Combine(_dir.StateRoot, "auth", "global-slots.json"))).IsTrue();
    }

    [Test]
    [Arguments(null, 4)]
    [Arguments("readonly", 4)]
    [Arguments("wrong", 4)]
    public async Task Online_secrets_need_the_admin_token(string? who, int exit)
    {
        string? token = who switch { "readonly" => _readonly, "wrong" => "nope-nope-nope", _ => null };

        CliResult r = await Support.Cli.RunAsync(["secrets", "list"], ClientEnv(token));

        await Assert.That(r.ExitCode).IsEqualTo(exit);
    }

    [Test]
    public async Task Readonly_token_cannot_read_secret_metadata_over_http()
    {
        using HttpClient ro = _daemon.Client(_readonly);

        HttpResponseMessage r = await ro.GetAsync("/v1/runtime/secrets");

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Forbidden);
    }

    [Test]
    [Arguments("{not json", "invalid_body")]
    [Arguments("{\"slot_id\":\"a\",\"provider\":\"openai\",\"value\":\"x\",\"surprise\":1}", "invalid_body")]
    [Arguments("{\"slot_id\":\"../etc\",\"provider\":\"openai\",\"value\":\"x\"}", "invalid_slot_id")]
    [Arguments("{\"slot_id\":\"a\",\"provider\":\"nope\",\"value\":\"x\"}", "invalid_provider")]
    [Arguments("{\"slot_id\":\"a\",\"provider\":\"openai\"}", "invalid_body")]
    public async Task Bad_bodies_get_a_precise_problem_and_change_nothing(string body, string code)
    {
        using HttpClient admin = _daemon.Client(_admin);
        string before = await admin.GetStringAsync("/v1/runtime/secrets");

        HttpResponseMessage r = await admin.PostAsync("/v1/runtime/secrets", new StringContent(body, Encoding.UTF8, "application/json"));

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
        await Assert.That(await r.Content.ReadAsStringAsync()).Contains($"\"code\":\"{code}\"");
        await Assert.That(await admin.GetStringAsync("/v1/runtime/secrets")).IsEqualTo(before);
    }

    [Test]
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

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.RequestEntityTooLarge);
        await Assert.That(await r.Content.ReadAsStringAsync()).Contains("payload_too_large");
    }

    [Test]
    public async Task Unreachable_daemon_exits_3_and_suggests_offline()
    {
        CliResult r = await Support.Cli.RunAsync(["secrets", "list"], new Dictionary<string, string?> { ["KHEISH_DAEMON_URL"] = "http://127.0.0.1:1" });

        await Assert.That(r.ExitCode).IsEqualTo(3);
        await Assert.That(r.Stderr).Contains("--offline");
    }
}
