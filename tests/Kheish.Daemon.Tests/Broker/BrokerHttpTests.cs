using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Broker;

/// <summary>Broker inspection, revocation and sessions through a real daemon.</summary>
public sealed class BrokerHttpTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _admin = "adm-" + Guid.NewGuid().ToString("N");
    private readonly string _readonly = "ro-" + Guid.NewGuid().ToString("N");
    private readonly Dictionary<string, string?> _env = new()
    {
        ["KHEISH_AUTH_STORE_MASTER_KEY"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
    };

    private Task<DaemonProcess> StartAsync() =>
        DaemonProcess.StartAsync(_dir.StateRoot, ["--http-admin-token", _admin, "--http-readonly-token", _readonly], _env);

    [Test]
    public async Task A_revocation_acknowledged_before_sigkill_survives_the_restart()
    {
        DaemonProcess first = await StartAsync();
        using (HttpClient admin = first.Client(_admin))
        {
            HttpResponseMessage revoke = await admin.PostAsync("/v1/runtime/auth/subjects/agent:rogue/revoke", null);
            await Assert.That(revoke.StatusCode).IsEqualTo(HttpStatusCode.OK);
        }

        await first.StopAsync(kill: true);
        await first.DisposeAsync();

        await using DaemonProcess second = await StartAsync();
        using HttpClient again = second.Client(_admin);
        using JsonDocument status = JsonDocument.Parse(await again.GetStringAsync("/v1/runtime/auth/subjects/agent:rogue"));

        await Assert.That(status.RootElement.GetProperty("revoked").GetBoolean()).IsTrue();
        await Assert.That(status.RootElement.GetProperty("current_epoch").GetInt64() >= 1).IsTrue();
    }

    [Test]
    public async Task Deleting_a_revoked_slot_keeps_it_refused_until_a_new_value_is_written()
    {
        // Were a delete to lift the tombstone, a slots file restored from a backup would bring
        // the revoked value back into use.
        await using DaemonProcess daemon = await StartAsync();
        var env = new Dictionary<string, string?>(_env)
        {
            ["KHEISH_DAEMON_URL"] = daemon.BaseUri.ToString(),
            ["KHEISH_DAEMON_TOKEN"] = _admin,
            ["V"] = Canary.New("tomb"),
        };
        CliResult set = await Support.Cli.RunAsync(["secrets", "set", "openai.tomb", "--provider", "openai", "--from-env", "V"], env);
        CliResult revoke = await Support.Cli.RunAsync(["runtime", "auth", "revoke-slot", "openai.tomb"], env);
        CliResult delete = await Support.Cli.RunAsync(["secrets", "delete", "openai.tomb"], env);
        await daemon.StopAsync();
        await Assert.That(new[] { set.ExitCode, revoke.ExitCode, delete.ExitCode }).IsEquivalentTo([0, 0, 0], CollectionOrdering.Matching).Because(set.All + revoke.All + delete.All);

        await Assert.That(OpenBroker().CheckSlot("openai.tomb")?.Code).IsEqualTo(Kheish.Core.Broker.BrokerErrors.SlotRevoked).Because("a delete must not lift the revocation");

        await using DaemonProcess again = await StartAsync();
        env["KHEISH_DAEMON_URL"] = again.BaseUri.ToString();
        CliResult rewrite = await Support.Cli.RunAsync(["secrets", "set", "openai.tomb", "--provider", "openai", "--from-env", "V"], env);
        await again.StopAsync();
        await Assert.That(rewrite.ExitCode).IsEqualTo(0).Because(rewrite.All);
        await Assert.That(OpenBroker().CheckSlot("openai.tomb")).IsNull().Because("writing a new value lifts it");
    }

    private Kheish.Core.Broker.CredentialBroker OpenBroker()
    {
        var root = new Kheish.Core.Storage.StateRoot(_dir.StateRoot);
        var key = Kheish.Core.Crypto.MasterKey.Parse(_env["KHEISH_AUTH_STORE_MASTER_KEY"]!, "test").Value;
        return Kheish.Core.Broker.CredentialBroker.Open(root, Kheish.Core.Crypto.EnvelopeStateFileCodec.For(key, root)).Value;
    }

    [Test]
    public async Task Runtime_auth_cli_talks_to_the_daemon_with_the_admin_token()
    {
        await using DaemonProcess daemon = await StartAsync();
        var env = new Dictionary<string, string?>(_env) { ["KHEISH_DAEMON_URL"] = daemon.BaseUri.ToString(), ["KHEISH_DAEMON_TOKEN"] = _admin };

        CliResult revoke = await Support.Cli.RunAsync(["runtime", "auth", "revoke-subject", "session:demo"], env);
        CliResult show = await Support.Cli.RunAsync(["runtime", "auth", "subject", "session:demo", "-o", "json"], env);
        CliResult missingLease = await Support.Cli.RunAsync(["runtime", "auth", "lease", "route-lease-0123456789abcdef0123456789abcdef"], env);

        await Assert.That(revoke.ExitCode == 0).IsTrue();
        await Assert.That(show.Stdout).Contains("\"revoked\":true");
        await Assert.That(missingLease.ExitCode).IsEqualTo(5);
    }

    [Test]
    public async Task Auth_inspection_is_admin_only_even_for_get()
    {
        await using DaemonProcess daemon = await StartAsync();
        using HttpClient ro = daemon.Client(_readonly);

        HttpResponseMessage r = await ro.GetAsync("/v1/runtime/auth/subjects/agent:x");

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Forbidden);
    }

    [Test]
    public async Task Broker_state_is_encrypted_under_the_master_key()
    {
        await using DaemonProcess daemon = await StartAsync();
        using HttpClient admin = daemon.Client(_admin);
        await admin.PostAsync("/v1/runtime/auth/subjects/agent:secretive-name/revoke", null);
        string status = await admin.GetStringAsync("/v1/status");
        await daemon.StopAsync();

        await Assert.That(status).Contains("\"broker_state_encrypted\":true");
        foreach (var (path, bytes) in _dir.AllFiles().Where(f => f.Path.Contains("broker-state", StringComparison.Ordinal)))
        {
            await Assert.That(Encoding.UTF8.GetString(bytes)).DoesNotContain("secretive-name");
        }
    }

    [Test]
    public async Task A_child_session_cannot_widen_its_parent()
    {
        await using DaemonProcess daemon = await StartAsync();
        using HttpClient admin = daemon.Client(_admin);

        HttpResponseMessage parent = await admin.PostAsync("/v1/sessions",
            new StringContent("{\"session_id\":\"parent\",\"scope\":{\"route_allow\":[\"openai\"]}}", Encoding.UTF8, "application/json"));
        HttpResponseMessage child = await admin.PostAsync("/v1/sessions",
            new StringContent("{\"session_id\":\"child\",\"parent_session_id\":\"parent\",\"scope\":{\"route_allow\":[\"anthropic\"]}}", Encoding.UTF8, "application/json"));

        await Assert.That(parent.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(child.StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
        await Assert.That(await child.Content.ReadAsStringAsync()).Contains("outside the parent scope");
    }

    [Test]
    [Arguments("/v1/runtime/auth/subjects/not-a-subject")]
    [Arguments("/v1/runtime/auth/leases/..%2F..%2Fetc")]
    public async Task Bad_ids_get_a_400_problem(string path)
    {
        await using DaemonProcess daemon = await StartAsync();
        using HttpClient admin = daemon.Client(_admin);

        HttpResponseMessage r = await admin.GetAsync(path);

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
        await Assert.That(r.Content.Headers.ContentType?.MediaType).IsEqualTo("application/problem+json");
    }

    public void Dispose() => _dir.Dispose();
}
