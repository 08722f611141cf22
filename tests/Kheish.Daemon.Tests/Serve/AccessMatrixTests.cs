using System.Net;
using System.Text;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Serve;

/// <summary>
/// (no token, wrong token, read-only, admin) × every control-plane endpoint. Read-only opens
/// exactly the safe inspection GETs; everything else needs admin; nothing opens without a token.
/// </summary>
public sealed class AccessMatrixTests
{
    private readonly TempDir _dir = new();
    private readonly string _admin = "adm-" + Guid.NewGuid().ToString("N");
    private readonly string _readonly = "ro-" + Guid.NewGuid().ToString("N");
    private DaemonProcess _daemon = null!;

    [Before(Test)]
    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir.File("project"));
        _daemon = await DaemonProcess.StartAsync(
            _dir.StateRoot,
            ["--http-admin-token", _admin, "--http-readonly-token", _readonly, "--project-root", _dir.File("project")],
            new Dictionary<string, string?>
            {
                ["KHEISH_AUTH_STORE_MASTER_KEY"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
                ["XDG_CONFIG_HOME"] = _dir.File("xdg"),
            });
    }

    [After(Test)]
    public async Task DisposeAsync()
    {
        await _daemon.DisposeAsync();
        _dir.Dispose();
    }

    public static IEnumerable<(string, string, string?, bool)> Endpoints =>
    [
        // method, path, JSON body, read-only allowed
        ("GET", "/v1/status", null, true),
        ("GET", "/v1/runtime", null, true),
        ("GET", "/v1/runtime/usage", null, true),
        ("GET", "/metrics", null, true),
        ("GET", "/v1/openapi.json", null, true),
        ("GET", "/v1/runs/run-1/external-actions", null, true),
        ("GET", "/v1/runtime/secrets", null, false),
        ("GET", "/v1/runtime/secrets/a.b", null, false),
        ("POST", "/v1/runtime/secrets", "{\"slot_id\":\"m.x\",\"provider\":\"generic\",\"value\":\"v-123456\"}", false),
        ("DELETE", "/v1/runtime/secrets/m.x", null, false),
        ("GET", "/v1/runtime/auth/subjects/agent:a", null, false),
        ("POST", "/v1/runtime/auth/subjects/agent:a/revoke", null, false),
        ("GET", "/v1/runtime/auth/leases/route-lease-0123456789abcdef0123456789abcdef", null, false),
        ("POST", "/v1/runtime/auth/leases/route-lease-0123456789abcdef0123456789abcdef/revoke", null, false),
        ("POST", "/v1/runtime/auth/slots/a.b/revoke", null, false),
        ("GET", "/v1/runtime/auth/accounts", null, false),
        ("GET", "/v1/runtime/auth/accounts/a.b", null, false),
        ("POST", "/v1/runtime/auth/accounts/a.b/refresh", null, false),
        ("POST", "/v1/runtime/auth/accounts/a.b/revoke", null, false),
        ("POST", "/v1/sessions", "{}", false),
        ("POST", "/v1/runtime/audit/test-action", "{}", false),
        ("GET", "/v1/runtime/security", null, false),
        ("POST", "/v1/runtime/security/keys", "{}", false),
        ("PUT", "/v1/runtime/security/mode", "{\"mode\":\"strict\"}", false),
        ("GET", "/v1/runtime/connectors", null, true),
        ("GET", "/v1/runtime/connectors/http/h", null, true),
        ("PUT", "/v1/runtime/connectors/http/h", "{}", false),
        ("DELETE", "/v1/runtime/connectors/http/h", null, false),
        ("GET", "/v1/runtime/connectors/http/h/events", null, false),
        ("GET", "/v1/runtime/mcp/servers", null, true),
        ("POST", "/v1/runtime/mcp/servers", "{\"name\":\"m\",\"command\":\"/bin/true\"}", false),
        ("DELETE", "/v1/runtime/mcp/servers/m", null, false),
        ("POST", "/v1/runtime/mcp/tools/m__t/call", "{}", false),
        ("GET", "/v1/does-not-exist", null, false),
        ("GET", "/", null, false),
    ];

    private async Task<HttpResponseMessage> SendAsync(string method, string path, string? body, string? token)
    {
        using HttpClient client = _daemon.Client(token);
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        return await client.SendAsync(request);
    }

    [Test]
    [MethodDataSource(nameof(Endpoints))]
    public async Task No_token_and_a_wrong_token_are_401(string method, string path, string? body, bool readOnlyAllowed)
    {
        _ = readOnlyAllowed;
        await Assert.That((await SendAsync(method, path, body, null)).StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That((await SendAsync(method, path, body, "wrong-" + Guid.NewGuid().ToString("N"))).StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
    }

    [Test]
    [MethodDataSource(nameof(Endpoints))]
    public async Task Read_only_opens_exactly_the_inspection_gets(string method, string path, string? body, bool readOnlyAllowed)
    {
        HttpResponseMessage r = await SendAsync(method, path, body, _readonly);

        if (readOnlyAllowed)
        {
            // Allowed through auth; the endpoint itself may answer 404 (e.g. an unknown run).
            await Assert.That(r.StatusCode).IsNotEqualTo(HttpStatusCode.Unauthorized);
            await Assert.That(r.StatusCode).IsNotEqualTo(HttpStatusCode.Forbidden);
            await Assert.That((int)r.StatusCode < 500).IsTrue();
        }
        else
        {
            await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Forbidden);
            await Assert.That(await r.Content.ReadAsStringAsync()).Contains("insufficient_access");
        }
    }

    [Test]
    [Arguments("POST")]
    [Arguments("GET")]
    [Arguments("DELETE")]
    public async Task Control_plane_tokens_never_open_the_mcp_gateway(string method)
    {
        // /mcp is the agent plane: only an API key opens it (none exists here: strict, no keys).
        foreach (string? token in new[] { null, _admin, _readonly })
        {
            HttpResponseMessage r = await SendAsync(method, "/mcp", method == "POST" ? """{"jsonrpc":"2.0","id":1,"method":"ping"}""" : null, token);
            await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
            await Assert.That(await r.Content.ReadAsStringAsync()).Contains("_api_key");
        }
    }

    [Test]
    [MethodDataSource(nameof(Endpoints))]
    public async Task Admin_is_never_refused_by_auth(string method, string path, string? body, bool readOnlyAllowed)
    {
        _ = readOnlyAllowed;
        HttpResponseMessage r = await SendAsync(method, path, body, _admin);

        await Assert.That(r.StatusCode).IsNotEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(r.StatusCode).IsNotEqualTo(HttpStatusCode.Forbidden);
        await Assert.That((int)r.StatusCode < 500).IsTrue().Because($"{method} {path} answered {(int)r.StatusCode}: {await r.Content.ReadAsStringAsync()}");
    }
}
