using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Connectors;

/// <summary>External connectors: a real child process, its cleared environment, its connector lease and each refusal.</summary>
public sealed class SidecarTests
{
    private static string Definition(ConnectorHarness h, string name, string envKeys, string extra = "")
    {
        var definition = new System.Text.Json.Nodes.JsonObject
        {
            ["command"] = ConnectorHarness.Python(),
            ["args"] = new System.Text.Json.Nodes.JsonArray(SidecarScript.Write(h.Dir.Path), h.Dir.File(name + ".json"), name),
            ["env"] = new System.Text.Json.Nodes.JsonObject { ["GREETING"] = "hello" },
            ["env_keys"] = System.Text.Json.Nodes.JsonNode.Parse(envKeys),
        };
        string json = definition.ToJsonString();
        return extra.Length == 0 ? json : json[..^1] + extra + "}";
    }

    private static async Task<JsonElement> SidecarReportAsync(ConnectorHarness h, string name)
    {
        string path = h.Dir.File(name + ".json");
        await ConnectorHarness.EventuallyAsync(() => Task.FromResult(File.Exists(path)), "the sidecar's report of " + name);
        return JsonDocument.Parse(File.ReadAllText(path)).RootElement.Clone();
    }

    private static string Sha256(string s) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)));

    [Test]
    public async Task A_sidecar_fetches_its_credential_and_its_environment_holds_nothing_of_the_daemons()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        string secret = Canary.New("botkey");
        await h.SetSecretAsync("bot.api", secret);

        var (status, body, text) = await h.PutAsync("external", "bot", Definition(h, "bot", "{\"API_KEY\":{\"secret_ref\":\"bot.api\"}}"));
        await Assert.That(status == HttpStatusCode.OK).IsTrue().Because(text);
        JsonElement report = await SidecarReportAsync(h, "bot");

        await Assert.That(report.GetProperty("digest").GetString()).IsEqualTo(Sha256(secret));
        var env = report.GetProperty("env").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        string[] allowed = ["PATH", "HOME", "LANG", "LC_ALL", "GREETING", "KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN",
            "KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_KEYS_JSON", "KHEISH_DAEMON_URL", "LC_CTYPE", "PWD", "SHLVL", "_"];
        foreach (var (name, value) in env)
        {
            bool passed = allowed.Contains(name) || name.StartsWith("SSL_CERT_", StringComparison.Ordinal) || name.StartsWith("TMP", StringComparison.Ordinal);
            await Assert.That(passed).IsTrue().Because($"unexpected variable {name} in the sidecar's environment");
            Canary.AssertAbsent(h.DaemonEnvCanary, value ?? "", "the sidecar's environment");
        }
        await Assert.That(env["KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_KEYS_JSON"]).IsEqualTo("[\"API_KEY\"]");
        await Assert.That(report.GetProperty("pgid").GetInt32()).IsEqualTo(report.GetProperty("pid").GetInt32());
        await Assert.That(await h.Daemon.LogsContainingAsync("credential digest " + Sha256(secret))).Contains("credential digest " + Sha256(secret));

        (status, body, _) = await h.SendAsync(HttpMethod.Get, "/v1/runtime/connectors/external/bot", bearer: h.Admin);
        await Assert.That(body.GetProperty("sidecar").GetProperty("state").GetString()).IsEqualTo("running");
        await Assert.That(body.GetProperty("env_keys").GetProperty("API_KEY").GetProperty("source").GetString()).IsEqualTo("secret_ref");

        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot]);
        await Assert.That(verify.ExitCode == 0).IsTrue().Because(verify.ToString());
        string ledger = string.Concat(Directory.GetFiles(Path.Combine(h.Dir.StateRoot, "external-actions"), "*.jsonl").Select(File.ReadAllText));
        await Assert.That(ledger).Contains("\"kind\":\"connector_credential\"");
        await Assert.That(ledger).Contains("\"target\":\"bot:API_KEY\"");
        await Assert.That(ledger).DoesNotContain(Sha256(secret));
        await h.StopAndAssertNoLeakAsync(secret, h.DaemonEnvCanary);
    }

    [Test]
    public async Task Wrong_key_another_connectors_lease_and_an_expired_lease_are_each_refused_with_their_reason()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync(env: new Dictionary<string, string?> { ["KHEISH_CONNECTOR_LEASE_TTL_SECONDS"] = "6" });
        string secret = Canary.New("k1");
        await h.SetSecretAsync("one.key", secret);
        await Assert.That((await h.PutAsync("external", "one", Definition(h, "one", "{\"KEY\":{\"secret_ref\":\"one.key\"}}"))).Status).IsEqualTo(HttpStatusCode.OK);
        await Assert.That((await h.PutAsync("external", "two", Definition(h, "two", "{\"KEY\":{\"value\":\"" + Canary.New("k2") + "\"}}"))).Status).IsEqualTo(HttpStatusCode.OK);
        string oneToken = (await SidecarReportAsync(h, "one")).GetProperty("env").GetProperty("KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN").GetString()!;
        var fresh = await h.SendAsync(HttpMethod.Post, "/v1/connectors/external/one/lease/renew", "{}", bearer: oneToken);
        _ = await SidecarReportAsync(h, "two");
        await Assert.That(fresh.Status == HttpStatusCode.OK).IsTrue().Because(fresh.Text);
        string renewed = fresh.Body.GetProperty("token").GetString()!;
        var ok = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/one/credentials/KEY", bearer: renewed);
        var wrongKey = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/one/credentials/OTHER", bearer: renewed);
        var otherConnector = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/two/credentials/KEY", bearer: renewed);
        var garbage = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/one/credentials/KEY", bearer: "not-a-lease");
        var adminToken = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/one/credentials/KEY", bearer: h.Admin);
        long expiresAt = fresh.Body.GetProperty("expires_at_ms").GetInt64();
        await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, expiresAt - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) + 200));
        var expired = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/one/credentials/KEY", bearer: renewed);

        await Assert.That(ok.Status).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(wrongKey.Body.GetProperty("code").GetString()).IsEqualTo("unknown_env_key");
        await Assert.That(wrongKey.Status).IsEqualTo(HttpStatusCode.NotFound);
        await Assert.That(otherConnector.Body.GetProperty("code").GetString()).IsEqualTo("audience_mismatch");
        await Assert.That(garbage.Body.GetProperty("code").GetString()).IsEqualTo("lease_unknown");
        await Assert.That(adminToken.Body.GetProperty("code").GetString()).IsEqualTo("lease_unknown");
        // Expired leases are pruned by the periodic broker flush; a pruned one is unknown. Either way: refused, 401.
        await Assert.That(new[] { "lease_expired", "lease_unknown" }).Contains(expired.Body.GetProperty("code").GetString()!);
        await Assert.That(expired.Status).IsEqualTo(HttpStatusCode.Unauthorized);
        await h.StopAndAssertNoLeakAsync(h.DaemonEnvCanary);
    }

    [Test]
    public async Task Revoking_the_connector_subject_stops_the_child_and_refuses_its_lease_at_once()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        await h.SetSecretAsync("rv.key", Canary.New("rv"));
        await Assert.That((await h.PutAsync("external", "rv", Definition(h, "rv", "{\"KEY\":{\"secret_ref\":\"rv.key\"}}"))).Status).IsEqualTo(HttpStatusCode.OK);
        JsonElement report = await SidecarReportAsync(h, "rv");
        int pid = report.GetProperty("pid").GetInt32();
        string token = report.GetProperty("env").GetProperty("KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN").GetString()!;

        var revoke = await h.SendAsync(HttpMethod.Post, "/v1/runtime/auth/subjects/connector:rv/revoke", bearer: h.Admin);
        var refused = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/rv/credentials/KEY", bearer: token);

        await Assert.That(revoke.Status == HttpStatusCode.OK).IsTrue().Because(revoke.Text);
        await Assert.That(refused.Body.GetProperty("code").GetString()).IsEqualTo("subject_revoked");
        await ConnectorHarness.EventuallyAsync(() => Task.FromResult(!ConnectorHarness.ProcessAlive(pid)), "the sidecar to stop", 10);
        await ConnectorHarness.EventuallyAsync(async () =>
        {
            var view = await h.SendAsync(HttpMethod.Get, "/v1/runtime/connectors/external/rv", bearer: h.Admin);
            JsonElement sidecar = view.Body.GetProperty("sidecar");
            return sidecar.GetProperty("state").GetString() == "refused" && sidecar.GetProperty("last_error").GetString() == "subject_revoked";
        }, "the sidecar to be shown refused (subject_revoked)", 10);
    }

    [Test]
    public async Task Revoking_a_slot_the_connector_draws_on_stops_the_child_and_refuses_the_fetch()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        await h.SetSecretAsync("sl.key", Canary.New("sl"));
        await Assert.That((await h.PutAsync("external", "sl", Definition(h, "sl", "{\"KEY\":{\"secret_ref\":\"sl.key\"}}"))).Status).IsEqualTo(HttpStatusCode.OK);
        JsonElement report = await SidecarReportAsync(h, "sl");
        int pid = report.GetProperty("pid").GetInt32();
        string token = report.GetProperty("env").GetProperty("KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN").GetString()!;

        var revoke = await h.SendAsync(HttpMethod.Post, "/v1/runtime/auth/slots/sl.key/revoke", bearer: h.Admin);
        var refused = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/sl/credentials/KEY", bearer: token);

        await Assert.That(revoke.Status == HttpStatusCode.OK).IsTrue().Because(revoke.Text);
        await Assert.That(refused.Body.GetProperty("code").GetString()).IsEqualTo("slot_revoked");
        await ConnectorHarness.EventuallyAsync(() => Task.FromResult(!ConnectorHarness.ProcessAlive(pid)), "the sidecar to stop", 10);
    }

    [Test]
    public async Task The_sidecar_stops_when_the_daemon_stops()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        await Assert.That((await h.PutAsync("external", "bye", Definition(h, "bye", "{}"))).Status).IsEqualTo(HttpStatusCode.OK);
        int pid = (await SidecarReportAsync(h, "bye")).GetProperty("pid").GetInt32();

        int exit = await h.Daemon.StopAsync();

        await Assert.That(exit).IsEqualTo(0);
        await Assert.That(ConnectorHarness.ProcessAlive(pid)).IsFalse().Because("the sidecar outlived a graceful stop");
        await Assert.That(h.Daemon.Logs).Contains("connector bye: sidecar stopped (daemon stopping)");
    }

    [Test]
    public async Task Disabling_the_connector_stops_the_child_and_refuses_fetches()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        await h.SetSecretAsync("ds.key", Canary.New("ds"));
        string definition = Definition(h, "ds", "{\"KEY\":{\"secret_ref\":\"ds.key\"}}");
        await Assert.That((await h.PutAsync("external", "ds", definition)).Status).IsEqualTo(HttpStatusCode.OK);
        JsonElement report = await SidecarReportAsync(h, "ds");
        int pid = report.GetProperty("pid").GetInt32();
        string token = report.GetProperty("env").GetProperty("KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN").GetString()!;

        var disable = await h.PutAsync("external", "ds", definition[..^1] + ",\"enabled\":false}");
        var refused = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/ds/credentials/KEY", bearer: token);

        await Assert.That(disable.Status == HttpStatusCode.OK).IsTrue().Because(disable.Text);
        await Assert.That(refused.Body.GetProperty("code").GetString()).IsEqualTo("connector_disabled");
        await ConnectorHarness.EventuallyAsync(() => Task.FromResult(!ConnectorHarness.ProcessAlive(pid)), "the sidecar to stop", 10);
    }

    [Test]
    public async Task A_scope_naming_the_connector_but_no_credentials_denies_every_credential()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        await h.SetSecretAsync("sc.key", Canary.New("sc"));
        var put = await h.PutAsync("external", "sc", Definition(h, "sc", "{\"KEY\":{\"secret_ref\":\"sc.key\"}}", ",\"scope\":{\"connector_allow\":[\"sc\"]}"));
        await Assert.That(put.Status == HttpStatusCode.OK).IsTrue().Because(put.Text);

        JsonElement report = await SidecarReportAsync(h, "sc");
        string token = report.GetProperty("env").GetProperty("KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN").GetString()!;
        var refused = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/sc/credentials/KEY", bearer: token);

        await Assert.That(report.GetProperty("env").GetProperty("KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_KEYS_JSON").GetString()).IsEqualTo("[]");
        await Assert.That(refused.Body.GetProperty("code").GetString()).IsEqualTo("scope_denied");
        await Assert.That(refused.Status).IsEqualTo(HttpStatusCode.Forbidden);
    }

    [Test]
    public async Task A_sidecar_that_exits_is_restarted_and_counted()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        string definition = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["command"] = "/bin/sh",
            ["args"] = new[] { "-c", "exit 3" },
        });
        await Assert.That((await h.PutAsync("external", "flaky", definition)).Status).IsEqualTo(HttpStatusCode.OK);

        await ConnectorHarness.EventuallyAsync(async () =>
        {
            var view = await h.SendAsync(HttpMethod.Get, "/v1/runtime/connectors/external/flaky", bearer: h.Admin);
            return view.Body.GetProperty("sidecar").GetProperty("restarts").GetInt32() >= 2
                && view.Body.GetProperty("sidecar").GetProperty("last_exit_code").GetInt32() == 3;
        }, "two counted restarts", 15);
    }

    [Test]
    public async Task No_sidecar_survives_kill_9_of_the_daemon()
    {
        ConnectorHarness h = await ConnectorHarness.StartAsync();
        try
        {
            await Assert.That((await h.PutAsync("external", "orphan", Definition(h, "orphan", "{}"))).Status).IsEqualTo(HttpStatusCode.OK);
            int pid = (await SidecarReportAsync(h, "orphan")).GetProperty("pid").GetInt32();
            await Assert.That(ConnectorHarness.ProcessAlive(pid)).IsTrue();

            await h.Daemon.StopAsync(kill: true);

            await ConnectorHarness.EventuallyAsync(() => Task.FromResult(!ConnectorHarness.ProcessAlive(pid)), "the sidecar to die with the daemon", 10);
        }
        finally
        {
            await h.DisposeAsync();
        }
    }
}
