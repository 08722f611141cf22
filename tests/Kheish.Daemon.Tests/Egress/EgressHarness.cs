using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Egress;

/// <summary>
/// A real daemon with a routes file pointing at a <see cref="RecordingUpstream"/>: route
/// <c>openai</c> (the default, auth_ref <c>openai.prod</c> holding a canary key) and route
/// <c>dead</c> (same slot, a closed port), plus one agent-plane API key.
/// </summary>
public sealed class EgressHarness : IAsyncDisposable
{
    public const string Slot = "openai.prod";

    private EgressHarness(TempDir dir, string masterKey, RecordingUpstream upstream)
    {
        Dir = dir;
        MasterKey = masterKey;
        Upstream = upstream;
    }

    public TempDir Dir { get; }

    /// <summary>
    /// The <c>dead</c> route's port: bound and never listening, held for the harness's lifetime,
    /// so a connection is refused and no parallel test's server can be given the same port (a
    /// free port picked and released was once taken by another test, which answered 200).
    /// </summary>
    private readonly System.Net.Sockets.Socket _deadPort = BindWithoutListening();

    private static System.Net.Sockets.Socket BindWithoutListening()
    {
        var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        return socket;
    }

    private int DeadPort => ((System.Net.IPEndPoint)_deadPort.LocalEndPoint!).Port;

    public string MasterKey { get; }

    public RecordingUpstream Upstream { get; }

    /// <summary>The provider key: must reach the upstream and nothing else.</summary>
    public string ProviderKey { get; } = Canary.New("provider");

    public string AdminToken { get; } = "adm-" + Guid.NewGuid().ToString("N");

    public DaemonProcess Daemon { get; private set; } = null!;

    public string ApiKey { get; private set; } = null!;

    public string Principal { get; private set; } = null!;

    public string Project => Dir.File("project");

    public Dictionary<string, string?> Env => new()
    {
        ["KHEISH_AUTH_STORE_MASTER_KEY"] = MasterKey,
        ["XDG_CONFIG_HOME"] = Dir.File("xdg"),
    };

    public static async Task<EgressHarness> StartAsync(
        string principal = "agent:coder",
        string? scopeJson = null,
        IEnumerable<string>? serveArgs = null,
        Action<EgressHarness>? beforeStart = null,
        IEnumerable<string>? keyArgs = null)
    {
        var harness = new EgressHarness(
            new TempDir(), Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)), new RecordingUpstream());
        Directory.CreateDirectory(harness.Project);
        File.WriteAllText(harness.Dir.File("routes.toml"), $"""
            version = 1
            default_route = "openai"

            [routes.openai]
            driver = "openai"
            default_model = "gpt-test"
            auth_ref = "{Slot}"
            base_url = "{harness.Upstream.BaseUrl}/v1"

            [routes.dead]
            driver = "openai"
            default_model = "gpt-test"
            auth_ref = "{Slot}"
            base_url = "http://127.0.0.1:{harness.DeadPort}/v1"
            """);
        var setEnv = harness.Env;
        setEnv["PROVIDER_KEY"] = harness.ProviderKey;
        CliResult set = await Support.Cli.RunAsync(
            ["secrets", "set", Slot, "--offline", "--state-root", harness.Dir.StateRoot, "--provider", "openai", "--from-env", "PROVIDER_KEY"], setEnv);
        await Assert.That(set.ExitCode).IsEqualTo(0).Because(set.ToString());

        List<string> keyArgs2 = ["security", "generate-key", "--project-root", harness.Project, "--principal", principal, "-o", "json"];
        if (scopeJson is not null)
        {
            File.WriteAllText(harness.Dir.File("scope.json"), scopeJson);
            keyArgs2.AddRange(["--scope-file", harness.Dir.File("scope.json")]);
        }

        keyArgs2.AddRange(keyArgs ?? []);
        CliResult key = await Support.Cli.RunAsync(keyArgs2, harness.Env);
        await Assert.That(key.ExitCode).IsEqualTo(0).Because(key.ToString());
        using (JsonDocument doc = JsonDocument.Parse(key.Stdout))
        {
            harness.ApiKey = doc.RootElement.GetProperty("key").GetString()!;
            harness.KeyId = doc.RootElement.GetProperty("id").GetString()!;
        }

        harness.Principal = principal;
        beforeStart?.Invoke(harness);
        harness._serveArgs = ["--http-admin-token", harness.AdminToken, "--project-root", harness.Project, "--routes-file", harness.Dir.File("routes.toml"), .. serveArgs ?? []];
        harness.Daemon = await DaemonProcess.StartAsync(harness.Dir.StateRoot, harness._serveArgs, harness.Env);
        return harness;
    }

    private List<string> _serveArgs = [];

    /// <summary>The generated key's public id.</summary>
    public string KeyId { get; private set; } = null!;

    /// <summary>Stops the daemon (SIGTERM) and starts it again on the same state root and arguments.</summary>
    public async Task RestartAsync()
    {
        await Daemon.StopAsync();
        await Daemon.DisposeAsync();
        Daemon = await DaemonProcess.StartAsync(Dir.StateRoot, _serveArgs, Env);
    }

    /// <summary>An agent client: our API key in X-API-Key, nothing else.</summary>
    public HttpClient Agent()
    {
        HttpClient client = Daemon.Client();
        client.DefaultRequestHeaders.Add("X-API-Key", ApiKey);
        return client;
    }

    public HttpClient Admin() => Daemon.Client(AdminToken);

    /// <summary>Runs an online CLI command against this daemon with the admin token.</summary>
    public Task<CliResult> OnlineAsync(params string[] args) =>
        Support.Cli.RunAsync([.. args, "--base-url", Daemon.BaseUri.ToString(), "--token", AdminToken], Env);

    public async ValueTask DisposeAsync()
    {
        if (Daemon is not null)
        {
            await Daemon.DisposeAsync();
        }

        await Upstream.DisposeAsync();
        _deadPort.Dispose();
        Dir.Dispose();
    }
}
