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

    [Fact]
    public async Task A_sidecar_fetches_its_credential_and_its_environment_holds_nothing_of_the_daemons()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        string secret = Canary.New("botkey");
        await h.SetSecretAsync("bot.api", secret);

        var (status, body, text) = await h.PutAsync("external", "bot", Definition(h, "bot", "{\"API_KEY\":{\"secret_ref\":\"bot.api\"}}"));
        Assert.True(status == HttpStatusCode.OK, text);
        JsonElement report = await SidecarReportAsync(h, "bot");

        Assert.Equal(Sha256(secret), report.GetProperty("digest").GetString());
        var env = report.GetProperty("env").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        string[] allowed = ["PATH", "HOME", "LANG", "LC_ALL", "GREETING", "KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN",
            "KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_KEYS_JSON", "KHEISH_DAEMON_URL", "LC_CTYPE", "PWD", "SHLVL", "_"];
        Assert.All(env.Keys, k => Assert.True(allowed.Contains(k) || k.StartsWith("SSL_CERT_", StringComparison.Ordinal) || k.StartsWith("TMP", StringComparison.Ordinal), $"unexpected variable {k}"));
        Assert.DoesNotContain(env.Values, v => v is not null && v.Contains(h.DaemonEnvCanary, StringComparison.Ordinal));
        Assert.Equal("[\"API_KEY\"]", env["KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_KEYS_JSON"]);
        Assert.Equal(report.GetProperty("pid").GetInt32(), report.GetProperty("pgid").GetInt32());
        Assert.Contains("credential digest " + Sha256(secret), h.Daemon.Logs);

        (status, body, _) = await h.SendAsync(HttpMethod.Get, "/v1/runtime/connectors/external/bot", bearer: h.Admin);
        Assert.Equal("running", body.GetProperty("sidecar").GetProperty("state").GetString());
        Assert.Equal("secret_ref", body.GetProperty("env_keys").GetProperty("API_KEY").GetProperty("source").GetString());

        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot]);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        string ledger = string.Concat(Directory.GetFiles(Path.Combine(h.Dir.StateRoot, "external-actions"), "*.jsonl").Select(File.ReadAllText));
        Assert.Contains("\"kind\":\"connector_credential\"", ledger);
        Assert.Contains("\"target\":\"bot:API_KEY\"", ledger);
        Assert.DoesNotContain(Sha256(secret), ledger);
        await h.StopAndAssertNoLeakAsync(secret, h.DaemonEnvCanary);
    }

    [Fact]
    public async Task Wrong_key_another_connectors_lease_and_an_expired_lease_are_each_refused_with_their_reason()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync(env: new Dictionary<string, string?> { ["KHEISH_CONNECTOR_LEASE_TTL_SECONDS"] = "6" });
        string secret = Canary.New("k1");
        await h.SetSecretAsync("one.key", secret);
        Assert.Equal(HttpStatusCode.OK, (await h.PutAsync("external", "one", Definition(h, "one", "{\"KEY\":{\"secret_ref\":\"one.key\"}}"))).Status);
        Assert.Equal(HttpStatusCode.OK, (await h.PutAsync("external", "two", Definition(h, "two", "{\"KEY\":{\"value\":\"" + Canary.New("k2") + "\"}}"))).Status);
        string oneToken = (await SidecarReportAsync(h, "one")).GetProperty("env").GetProperty("KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN").GetString()!;
        var fresh = await h.SendAsync(HttpMethod.Post, "/v1/connectors/external/one/lease/renew", "{}", bearer: oneToken);
        _ = await SidecarReportAsync(h, "two");
        Assert.True(fresh.Status == HttpStatusCode.OK, fresh.Text);
        string renewed = fresh.Body.GetProperty("token").GetString()!;
        var ok = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/one/credentials/KEY", bearer: renewed);
        var wrongKey = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/one/credentials/OTHER", bearer: renewed);
        var otherConnector = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/two/credentials/KEY", bearer: renewed);
        var garbage = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/one/credentials/KEY", bearer: "not-a-lease");
        var adminToken = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/one/credentials/KEY", bearer: h.Admin);
        long expiresAt = fresh.Body.GetProperty("expires_at_ms").GetInt64();
        await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, expiresAt - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) + 200));
        var expired = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/one/credentials/KEY", bearer: renewed);

        Assert.Equal(HttpStatusCode.OK, ok.Status);
        Assert.Equal("unknown_env_key", wrongKey.Body.GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.NotFound, wrongKey.Status);
        Assert.Equal("audience_mismatch", otherConnector.Body.GetProperty("code").GetString());
        Assert.Equal("lease_unknown", garbage.Body.GetProperty("code").GetString());
        Assert.Equal("lease_unknown", adminToken.Body.GetProperty("code").GetString());
        // Expired leases are pruned by the periodic broker flush; a pruned one is unknown. Either way: refused, 401.
        Assert.Contains(expired.Body.GetProperty("code").GetString(), new[] { "lease_expired", "lease_unknown" });
        Assert.Equal(HttpStatusCode.Unauthorized, expired.Status);
        await h.StopAndAssertNoLeakAsync(h.DaemonEnvCanary);
    }

    [Fact]
    public async Task Revoking_the_connector_subject_stops_the_child_and_refuses_its_lease_at_once()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        await h.SetSecretAsync("rv.key", Canary.New("rv"));
        Assert.Equal(HttpStatusCode.OK, (await h.PutAsync("external", "rv", Definition(h, "rv", "{\"KEY\":{\"secret_ref\":\"rv.key\"}}"))).Status);
        JsonElement report = await SidecarReportAsync(h, "rv");
        int pid = report.GetProperty("pid").GetInt32();
        string token = report.GetProperty("env").GetProperty("KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN").GetString()!;

        var revoke = await h.SendAsync(HttpMethod.Post, "/v1/runtime/auth/subjects/connector:rv/revoke", bearer: h.Admin);
        var refused = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/rv/credentials/KEY", bearer: token);

        Assert.True(revoke.Status == HttpStatusCode.OK, revoke.Text);
        Assert.Equal("subject_revoked", refused.Body.GetProperty("code").GetString());
        await ConnectorHarness.EventuallyAsync(() => Task.FromResult(!ConnectorHarness.ProcessAlive(pid)), "the sidecar to stop", 10);
        await ConnectorHarness.EventuallyAsync(async () =>
        {
            var view = await h.SendAsync(HttpMethod.Get, "/v1/runtime/connectors/external/rv", bearer: h.Admin);
            JsonElement sidecar = view.Body.GetProperty("sidecar");
            return sidecar.GetProperty("state").GetString() == "refused" && sidecar.GetProperty("last_error").GetString() == "subject_revoked";
        }, "the sidecar to be shown refused (subject_revoked)", 10);
    }

    [Fact]
    public async Task Revoking_a_slot_the_connector_draws_on_stops_the_child_and_refuses_the_fetch()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        await h.SetSecretAsync("sl.key", Canary.New("sl"));
        Assert.Equal(HttpStatusCode.OK, (await h.PutAsync("external", "sl", Definition(h, "sl", "{\"KEY\":{\"secret_ref\":\"sl.key\"}}"))).Status);
        JsonElement report = await SidecarReportAsync(h, "sl");
        int pid = report.GetProperty("pid").GetInt32();
        string token = report.GetProperty("env").GetProperty("KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN").GetString()!;

        var revoke = await h.SendAsync(HttpMethod.Post, "/v1/runtime/auth/slots/sl.key/revoke", bearer: h.Admin);
        var refused = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/sl/credentials/KEY", bearer: token);

        Assert.True(revoke.Status == HttpStatusCode.OK, revoke.Text);
        Assert.Equal("slot_revoked", refused.Body.GetProperty("code").GetString());
        await ConnectorHarness.EventuallyAsync(() => Task.FromResult(!ConnectorHarness.ProcessAlive(pid)), "the sidecar to stop", 10);
    }

    [Fact]
    public async Task The_sidecar_stops_when_the_daemon_stops()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        Assert.Equal(HttpStatusCode.OK, (await h.PutAsync("external", "bye", Definition(h, "bye", "{}"))).Status);
        int pid = (await SidecarReportAsync(h, "bye")).GetProperty("pid").GetInt32();

        int exit = await h.Daemon.StopAsync();

        Assert.Equal(0, exit);
        Assert.False(ConnectorHarness.ProcessAlive(pid), "the sidecar outlived a graceful stop");
        Assert.Contains("connector bye: sidecar stopped (daemon stopping)", h.Daemon.Logs);
    }

    [Fact]
    public async Task Disabling_the_connector_stops_the_child_and_refuses_fetches()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        await h.SetSecretAsync("ds.key", Canary.New("ds"));
        string definition = Definition(h, "ds", "{\"KEY\":{\"secret_ref\":\"ds.key\"}}");
        Assert.Equal(HttpStatusCode.OK, (await h.PutAsync("external", "ds", definition)).Status);
        JsonElement report = await SidecarReportAsync(h, "ds");
        int pid = report.GetProperty("pid").GetInt32();
        string token = report.GetProperty("env").GetProperty("KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN").GetString()!;

        var disable = await h.PutAsync("external", "ds", definition[..^1] + ",\"enabled\":false}");
        var refused = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/ds/credentials/KEY", bearer: token);

        Assert.True(disable.Status == HttpStatusCode.OK, disable.Text);
        Assert.Equal("connector_disabled", refused.Body.GetProperty("code").GetString());
        await ConnectorHarness.EventuallyAsync(() => Task.FromResult(!ConnectorHarness.ProcessAlive(pid)), "the sidecar to stop", 10);
    }

    [Fact]
    public async Task A_scope_naming_the_connector_but_no_credentials_denies_every_credential()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        await h.SetSecretAsync("sc.key", Canary.New("sc"));
        var put = await h.PutAsync("external", "sc", Definition(h, "sc", "{\"KEY\":{\"secret_ref\":\"sc.key\"}}", ",\"scope\":{\"connector_allow\":[\"sc\"]}"));
        Assert.True(put.Status == HttpStatusCode.OK, put.Text);

        JsonElement report = await SidecarReportAsync(h, "sc");
        string token = report.GetProperty("env").GetProperty("KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN").GetString()!;
        var refused = await h.SendAsync(HttpMethod.Get, "/v1/connectors/external/sc/credentials/KEY", bearer: token);

        Assert.Equal("[]", report.GetProperty("env").GetProperty("KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_KEYS_JSON").GetString());
        Assert.Equal("scope_denied", refused.Body.GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
    }

    [Fact]
    public async Task A_sidecar_that_exits_is_restarted_and_counted()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        string definition = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["command"] = "/bin/sh",
            ["args"] = new[] { "-c", "exit 3" },
        });
        Assert.Equal(HttpStatusCode.OK, (await h.PutAsync("external", "flaky", definition)).Status);

        await ConnectorHarness.EventuallyAsync(async () =>
        {
            var view = await h.SendAsync(HttpMethod.Get, "/v1/runtime/connectors/external/flaky", bearer: h.Admin);
            return view.Body.GetProperty("sidecar").GetProperty("restarts").GetInt32() >= 2
                && view.Body.GetProperty("sidecar").GetProperty("last_exit_code").GetInt32() == 3;
        }, "two counted restarts", 15);
    }

    [Fact]
    public async Task No_sidecar_survives_kill_9_of_the_daemon()
    {
        ConnectorHarness h = await ConnectorHarness.StartAsync();
        try
        {
            Assert.Equal(HttpStatusCode.OK, (await h.PutAsync("external", "orphan", Definition(h, "orphan", "{}"))).Status);
            int pid = (await SidecarReportAsync(h, "orphan")).GetProperty("pid").GetInt32();
            Assert.True(ConnectorHarness.ProcessAlive(pid));

            await h.Daemon.StopAsync(kill: true);

            await ConnectorHarness.EventuallyAsync(() => Task.FromResult(!ConnectorHarness.ProcessAlive(pid)), "the sidecar to die with the daemon", 10);
        }
        finally
        {
            await h.DisposeAsync();
        }
    }
}
