using System.Net;
using System.Text;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Serve;

public sealed class ServeRoutesTests : IDisposable
{
    private const string Routes = """
        version = 1
        default_route = "openai"

        [routes.openai]
        driver = "openai"
        default_model = "gpt-5.4"
        auth_ref = "openai.prod"
        """;

    private readonly TempDir _dir = new();
    private readonly string _masterKey = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    private Dictionary<string, string?> Env(params (string, string)[] more)
    {
        var env = new Dictionary<string, string?> { ["KHEISH_AUTH_STORE_MASTER_KEY"] = _masterKey };
        foreach (var (k, v) in more)
        {
            env[k] = v;
        }

        return env;
    }

    [Test]
    public async Task Serve_refuses_a_routes_file_with_a_missing_auth_ref()
    {
        File.WriteAllText(_dir.File("routes.toml"), Routes);

        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(_dir.StateRoot, ["--routes-file", _dir.File("routes.toml")], Env());

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("route `openai` references missing auth_ref `openai.prod`");
    }

    [Test]
    public async Task Serve_refuses_an_auth_ref_of_another_provider()
    {
        File.WriteAllText(_dir.File("routes.toml"), Routes);
        CliResult set = await Support.Cli.RunAsync(
            ["secrets", "set", "openai.prod", "--offline", "--state-root", _dir.StateRoot, "--provider", "anthropic", "--stdin"], Env(), stdin: "k-123456");
        await Assert.That(set.ExitCode).IsEqualTo(0);

        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(_dir.StateRoot, ["--routes-file", _dir.File("routes.toml")], Env());

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("anthropic");
        await Assert.That(r.Stderr).Contains("openai");
    }

    [Test]
    public async Task Serve_starts_with_a_valid_routes_file_shows_routes_and_refuses_deleting_a_referenced_slot()
    {
        string canary = Canary.New("route");
        File.WriteAllText(_dir.File("routes.toml"), Routes);
        await Support.Cli.RunAsync(
            ["secrets", "set", "openai.prod", "--offline", "--state-root", _dir.StateRoot, "--provider", "openai", "--from-env", "K"], Env(("K", canary)));

        await using DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--routes-file", _dir.File("routes.toml")], Env());
        using HttpClient client = daemon.Client();
        string runtime = await client.GetStringAsync("/v1/runtime");
        HttpResponseMessage delete = await client.DeleteAsync("/v1/runtime/secrets/openai.prod");

        await Assert.That(runtime).Contains("\"auth_ref\":\"openai.prod\"");
        await Assert.That(runtime).Contains("\"driver\":\"openai\"");
        await Assert.That(runtime).Contains("\"default_route\":\"openai\"");
        await Assert.That(delete.StatusCode).IsEqualTo(HttpStatusCode.Conflict);
        await Assert.That(await delete.Content.ReadAsStringAsync()).Contains("slot_in_use");
        Canary.AssertAbsent(canary, runtime + daemon.Logs, "runtime view and logs");
    }

    [Test]
    public async Task Without_a_master_key_an_encrypted_store_is_reported_and_writes_refused()
    {
        await Support.Cli.RunAsync(
            ["secrets", "set", "x.y", "--offline", "--state-root", _dir.StateRoot, "--provider", "generic", "--stdin"], Env(), stdin: "v-123456");
        byte[] before = File.ReadAllBytes(Path.Combine(_dir.StateRoot, "auth", "global-slots.json"));

        await using DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot);
        using HttpClient client = daemon.Client();
        HttpResponseMessage ready = await client.GetAsync("/readyz");
        HttpResponseMessage write = await client.PostAsync("/v1/runtime/secrets",
            new StringContent("{\"slot_id\":\"x.y\",\"provider\":\"generic\",\"value\":\"new-value\"}", Encoding.UTF8, "application/json"));

        await Assert.That(ready.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        await Assert.That(await ready.Content.ReadAsStringAsync()).Contains("no master key");
        await Assert.That(write.StatusCode).IsEqualTo(HttpStatusCode.InternalServerError);
        await Assert.That(await write.Content.ReadAsStringAsync()).Contains("KHEISH_AUTH_STORE_MASTER_KEY");
        await Assert.That(File.ReadAllBytes(Path.Combine(_dir.StateRoot, "auth", "global-slots.json"))).IsEquivalentTo(before, CollectionOrdering.Matching);
    }

    public void Dispose() => _dir.Dispose();
}
