using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Serve;

public sealed class OpenApiTests : IDisposable
{
    private readonly TempDir _dir = new();

    [Test]
    public async Task The_openapi_document_describes_every_endpoint_with_its_methods()
    {
        await using DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot);
        using HttpClient client = daemon.Client();

        using JsonDocument doc = JsonDocument.Parse(await client.GetStringAsync("/v1/openapi.json"));
        JsonElement paths = doc.RootElement.GetProperty("paths");

        (string Path, string Method)[] expected =
        [
            ("/healthz", "get"), ("/readyz", "get"), ("/v1/status", "get"), ("/v1/runtime", "get"),
            ("/v1/runtime/secrets", "get"), ("/v1/runtime/secrets", "post"),
            ("/v1/runtime/secrets/{slotRef}", "get"), ("/v1/runtime/secrets/{slotRef}", "delete"),
            ("/v1/runtime/auth/subjects/{subjectId}", "get"), ("/v1/runtime/auth/subjects/{subjectId}/revoke", "post"),
            ("/v1/runtime/auth/leases/{leaseId}", "get"), ("/v1/runtime/auth/leases/{leaseId}/revoke", "post"),
            ("/v1/runtime/auth/slots/{slotId}/revoke", "post"), ("/v1/sessions", "post"),
            ("/v1/runs/{runId}/external-actions", "get"), ("/v1/runtime/audit/test-action", "post"),
            ("/v1/runtime/security", "get"), ("/v1/runtime/security/keys", "post"), ("/v1/runtime/security/keys/{id}", "delete"),
            ("/v1/runtime/security/allowed-ips", "post"), ("/v1/runtime/security/allowed-ips/remove", "post"),
            ("/v1/runtime/security/mode", "put"), ("/agent/v1/whoami", "get"), ("/agent/v1/routes/{route}/{path}", "post"),
        ];
        foreach (var (path, method) in expected)
        {
            await Assert.That(paths.TryGetProperty(path, out JsonElement item)).IsTrue().Because($"OpenAPI lacks {path}");
            await Assert.That(item.TryGetProperty(method, out _)).IsTrue().Because($"OpenAPI lacks {method.ToUpperInvariant()} {path}");
        }

        await Assert.That(paths.GetProperty("/v1/runtime/secrets").GetProperty("post").TryGetProperty("requestBody", out _)).IsTrue();
    }

    public void Dispose() => _dir.Dispose();
}
