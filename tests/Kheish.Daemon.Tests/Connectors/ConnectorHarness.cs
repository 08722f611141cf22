using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Connectors;

/// <summary>
/// A real daemon for connector tests: admin token, master key, a canary in its own environment
/// (which no sidecar may see), and helpers to define connectors and call both planes.
/// </summary>
public sealed class ConnectorHarness : IAsyncDisposable
{
    private ConnectorHarness(TempDir dir, DaemonProcess daemon, string admin, string daemonEnvCanary)
    {
        Dir = dir;
        Daemon = daemon;
        Admin = admin;
        DaemonEnvCanary = daemonEnvCanary;
    }

    public TempDir Dir { get; }

    public DaemonProcess Daemon { get; }

    public string Admin { get; }

    /// <summary>The value of DAEMON_ONLY_SECRET in the daemon's environment.</summary>
    public string DaemonEnvCanary { get; }

    public static async Task<ConnectorHarness> StartAsync(bool masterKey = true, IDictionary<string, string?>? env = null, IEnumerable<string>? args = null)
    {
        var dir = new TempDir();
        string admin = "adm-" + Guid.NewGuid().ToString("N");
        string canary = Canary.New("daemonenv");
        var daemonEnv = new Dictionary<string, string?>
        {
            ["DAEMON_ONLY_SECRET"] = canary,
            ["XDG_CONFIG_HOME"] = dir.File("xdg"),
        };
        if (masterKey)
        {
            daemonEnv["KHEISH_AUTH_STORE_MASTER_KEY"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        }

        foreach (var (k, v) in env ?? new Dictionary<string, string?>())
        {
            daemonEnv[k] = v;
        }

        Directory.CreateDirectory(dir.File("project"));
        DaemonProcess daemon = await DaemonProcess.StartAsync(
            dir.StateRoot, ["--http-admin-token", admin, "--project-root", dir.File("project"), .. args ?? []], daemonEnv);
        return new ConnectorHarness(dir, daemon, admin, canary);
    }

    public HttpClient AdminClient() => Daemon.Client(Admin);

    public async Task<(HttpStatusCode Status, JsonElement Body, string Text)> SendAsync(
        HttpMethod method, string path, string? json = null, string? bearer = null, IDictionary<string, string>? headers = null, byte[]? raw = null)
    {
        using HttpClient client = Daemon.Client(bearer);
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        else if (raw is not null)
        {
            request.Content = new ByteArrayContent(raw) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } };
        }

        foreach (var (k, v) in headers ?? new Dictionary<string, string>())
        {
            request.Headers.TryAddWithoutValidation(k, v);
        }

        using HttpResponseMessage response = await client.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        Responses.Append(text).Append('\n');
        JsonElement body = text.Length > 0 && (text[0] == '{' || text[0] == '[') ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return (response.StatusCode, body, text);
    }

    /// <summary>Every response body seen, for canary scans.</summary>
    public StringBuilder Responses { get; } = new();

    public Task<(HttpStatusCode Status, JsonElement Body, string Text)> PutAsync(string kind, string name, string json) =>
        SendAsync(HttpMethod.Put, $"/v1/runtime/connectors/{kind}/{name}", json, Admin);

    public async Task SetSecretAsync(string slot, string value)
    {
        var (status, _, text) = await SendAsync(HttpMethod.Post, "/v1/runtime/secrets",
            JsonSerializer.Serialize(new Dictionary<string, string> { ["slot_id"] = slot, ["provider"] = "generic", ["value"] = value }), Admin);
        await Assert.That(status == HttpStatusCode.OK).IsTrue().Because(text);
    }

    /// <summary>The absolute path of a real python3 (pyenv shims need more environment than a sidecar gets).</summary>
    public static string Python()
    {
        var psi = new ProcessStartInfo("python3", ["-c", "import sys; print(sys.executable)"]) { RedirectStandardOutput = true };
        using Process p = Process.Start(psi)!;
        string path = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return path;
    }

    public static async Task<T> EventuallyAsync<T>(Func<Task<T?>> probe, string what, int seconds = 20)
        where T : class
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("timed out waiting for " + what);
    }

    public static async Task EventuallyAsync(Func<Task<bool>> probe, string what, int seconds = 20)
    {
        _ = await EventuallyAsync<object>(async () => await probe() ? new object() : null, what, seconds);
    }

    public static bool ProcessAlive(int pid) => Support.ProcessProbe.Alive(pid);

    /// <summary>Stops the daemon (so no state file is mid-rename) and scans responses, logs and every file for each canary.</summary>
    public async Task StopAndAssertNoLeakAsync(params string[] canaries)
    {
        await Daemon.StopAsync();
        foreach (string canary in canaries)
        {
            Canary.AssertAbsent(canary, Responses.ToString(), "HTTP responses");
            Canary.AssertAbsent(canary, Daemon.Logs, "daemon logs");
            Canary.AssertAbsentFromFiles(canary, Dir);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Daemon.DisposeAsync();
        Dir.Dispose();
    }
}
