using System.Net;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Hardening;

/// <summary>Issue 12 on a running daemon: per-plane failure limiter, the security.json in effect.</summary>
public sealed class HardeningDaemonTests : IDisposable
{
    private const string StrictNoKeys = "{\"mode\":\"strict\",\"api_keys\":[],\"allowed_ips\":[],\"trusted_proxies\":[]}";

    private readonly TempDir _dir = new();

    public HardeningDaemonTests() => Directory.CreateDirectory(Project);

    public void Dispose() => _dir.Dispose();

    private string Project => _dir.File("proj");

    private string Xdg => _dir.File("xdg");

    private Dictionary<string, string?> Env => new() { ["XDG_CONFIG_HOME"] = Xdg };

    private static string WriteSecurityJson(string directory)
    {
        Directory.CreateDirectory(directory);
        string file = Path.Combine(directory, "security.json");
        File.WriteAllText(file, StrictNoKeys);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return file;
    }

    [Test]
    public async Task Bad_agent_keys_do_not_push_the_control_plane_past_its_limiter()
    {
        string admin = "adm-" + Guid.NewGuid().ToString("N");
        WriteSecurityJson(Path.Combine(Project, ".kheish"));
        await using DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--project-root", Project, "--http-admin-token", admin], Env);
        using HttpClient agent = daemon.Client();
        agent.DefaultRequestHeaders.Add("X-API-Key", "kheish_" + new string('x', 43));
        for (int i = 0; i < 70; i++)
        {
            (await agent.GetAsync("/agent/v1/whoami")).Dispose();
        }

        HttpResponseMessage agentLimited = await agent.GetAsync("/agent/v1/whoami");
        using HttpClient wrongToken = daemon.Client("wrong-" + Guid.NewGuid().ToString("N"));
        HttpResponseMessage control = await wrongToken.GetAsync("/v1/status");

        await Assert.That(agentLimited.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
        await Assert.That(control.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
    }

    [Test]
    public async Task Status_names_the_security_json_in_effect_and_the_daemon_logs_a_switch()
    {
        string global = WriteSecurityJson(Path.Combine(Xdg, "kheish"));
        await using DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--project-root", Project], Env);
        using HttpClient admin = daemon.Client(daemon.MintedAdminToken);

        using JsonDocument before = JsonDocument.Parse(await admin.GetStringAsync("/v1/status"));
        string project = WriteSecurityJson(Path.Combine(Project, ".kheish"));
        using JsonDocument after = JsonDocument.Parse(await admin.GetStringAsync("/v1/status"));

        await Assert.That(before.RootElement.GetProperty("agent_plane_config_origin").GetString()).IsEqualTo("global");
        await Assert.That(before.RootElement.GetProperty("agent_plane_config_file").GetString()).IsEqualTo(global);
        await Assert.That(after.RootElement.GetProperty("agent_plane_config_origin").GetString()).IsEqualTo("project");
        await Assert.That(after.RootElement.GetProperty("agent_plane_config_file").GetString()).IsEqualTo(project);
        string expected = $"switched from global file {global} to project file {project}";
        await Assert.That(await daemon.LogsContainingAsync(expected, TimeSpan.FromSeconds(30))).Contains(expected);
    }

    [Test]
    public async Task An_offline_session_revocation_cascades_to_its_children()
    {
        await using (DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--project-root", Project], Env))
        {
            using HttpClient admin = daemon.Client();
            (await admin.PostAsync("/v1/sessions", new StringContent("{\"session_id\":\"p1\"}", System.Text.Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
            (await admin.PostAsync("/v1/sessions", new StringContent("{\"session_id\":\"c1\",\"parent_session_id\":\"p1\"}", System.Text.Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
            (await admin.PostAsync("/v1/sessions", new StringContent("{\"session_id\":\"g1\",\"parent_session_id\":\"c1\"}", System.Text.Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
            await daemon.StopAsync();
        }

        CliResult revoke = await Support.Cli.RunAsync(["runtime", "auth", "revoke-subject", "session:p1", "--offline", "--state-root", _dir.StateRoot, "-o", "json"], Env);
        CliResult grandchild = await Support.Cli.RunAsync(["runtime", "auth", "subject", "session:g1", "--offline", "--state-root", _dir.StateRoot, "-o", "json"], Env);

        await Assert.That(revoke.ExitCode).IsEqualTo(0).Because(revoke.ToString());
        await Assert.That(grandchild.ExitCode).IsEqualTo(0).Because(grandchild.ToString());
        await Assert.That(JsonDocument.Parse(grandchild.Stdout).RootElement.GetProperty("revoked").GetBoolean()).IsTrue();
    }

    [Test]
    public async Task A_token_file_readable_by_others_is_warned_about_and_a_world_writable_one_refused()
    {
        string tokenFile = _dir.File("admin.token");
        File.WriteAllText(tokenFile, "adm-" + Guid.NewGuid().ToString("N"));
        File.SetUnixFileMode(tokenFile, (UnixFileMode)0b110_100_100);
        await using (DaemonProcess daemon = await DaemonProcess.StartAsync(_dir.StateRoot, ["--project-root", Project, "--http-admin-token-file", tokenFile], Env))
        {
            await Assert.That(daemon.Logs).Contains($"the admin token file {tokenFile} is readable by group or others (mode 644)");
            await daemon.StopAsync();
        }

        File.SetUnixFileMode(tokenFile, (UnixFileMode)0b110_110_110);
        CliResult refused = await DaemonProcess.RunExpectingRefusalAsync(_dir.StateRoot, ["--project-root", Project, "--http-admin-token-file", tokenFile], Env);

        await Assert.That(refused.ExitCode).IsEqualTo(2).Because(refused.ToString());
        await Assert.That(refused.Stderr).Contains($"the admin token file {tokenFile} is writable by any user (mode 666)");
    }
}

/// <summary>Issue 12, egress fidelity end to end: a real daemon in front of a recording upstream.</summary>
public sealed class HardeningEgressTests
{
    private static StringContent Json(string body) => new(body, System.Text.Encoding.UTF8, "application/json");

    [Test]
    public async Task A_provider_key_echoed_by_the_upstream_never_reaches_the_agent()
    {
        await using Egress.EgressHarness h = await Egress.EgressHarness.StartAsync();
        h.Upstream.Handler = async (request, response) =>
        {
            response.StatusCode = 200;
            response.ContentType = "application/json";
            response.Headers.Add("X-Echo-Key", request.Header("Authorization") ?? "");
            response.Headers.Add("X-Upstream-Note", "kept");
            await Egress.RecordingUpstream.WriteAsync(response, $"{{\"echo\":\"{request.Header("Authorization")}\",\"ok\":true}}");
        };
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/openai/chat/completions", Json("{\"messages\":[]}"));
        string body = await r.Content.ReadAsStringAsync();

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(h.Upstream.Received.Single().Header("Authorization")).IsEqualTo("Bearer " + h.ProviderKey);
        await Assert.That(r.Headers.Contains("X-Echo-Key")).IsFalse();
        await Assert.That(r.Headers.GetValues("X-Upstream-Note").Single()).IsEqualTo("kept");
        await Assert.That(body).Contains("\"ok\":true");
        Canary.AssertAbsent(h.ProviderKey, body + r.Headers + r.Content.Headers, "the agent's response");
        Canary.AssertAbsent(h.ProviderKey, h.Daemon.Logs, "daemon logs");
    }

    [Test]
    public async Task Headers_named_in_connection_and_no_traceparent_go_upstream_and_default_model_is_filled()
    {
        await using Egress.EgressHarness h = await Egress.EgressHarness.StartAsync();
        // The test process itself must not send a traceparent (its HttpClient would, inside a test activity).
        using var agent = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = System.Diagnostics.DistributedContextPropagator.CreateNoOutputPropagator() })
        {
            BaseAddress = h.Daemon.BaseUri,
        };
        agent.DefaultRequestHeaders.Add("X-API-Key", h.ApiKey);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/agent/v1/routes/openai/chat/completions") { Content = Json("{\"messages\":[]}") };
        request.Headers.Connection.Add("X-Hop-Secret");
        request.Headers.TryAddWithoutValidation("X-Hop-Secret", "must-not-travel");

        HttpResponseMessage r = await agent.SendAsync(request);

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
        Egress.UpstreamRequest seen = h.Upstream.Received.Single();
        await Assert.That(seen.Header("X-Hop-Secret")).IsNull();
        await Assert.That(seen.Header("traceparent")).IsNull();
        using JsonDocument sent = JsonDocument.Parse(seen.Body);
        await Assert.That(sent.RootElement.GetProperty("model").GetString()).IsEqualTo("gpt-test");
    }

    [Test]
    public async Task A_model_of_another_family_is_refused_before_any_upstream_call()
    {
        await using Egress.EgressHarness h = await Egress.EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/openai/chat/completions", Json("{\"model\":\"claude-opus-4\",\"messages\":[]}"));
        string body = await r.Content.ReadAsStringAsync();

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
        using JsonDocument problem = JsonDocument.Parse(body);
        await Assert.That(problem.RootElement.GetProperty("code").GetString()).IsEqualTo("model_not_allowed");
        await Assert.That(problem.RootElement.GetProperty("detail").GetString()).Contains("openai");
        await Assert.That(h.Upstream.Received.IsEmpty).IsTrue();
    }

    [Test]
    public async Task New_ledger_buckets_are_limited_per_key_per_minute()
    {
        await using Egress.EgressHarness h = await Egress.EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();
        HttpStatusCode last = HttpStatusCode.OK;
        string body = "";
        int accepted = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 300 && last == HttpStatusCode.OK; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/agent/v1/routes/openai/chat/completions") { Content = Json("{\"messages\":[]}") };
            request.Headers.Add("X-Kheish-Run-Id", $"run-{i}");
            using HttpResponseMessage r = await agent.SendAsync(request);
            last = r.StatusCode;
            body = await r.Content.ReadAsStringAsync();
            accepted += r.StatusCode == HttpStatusCode.OK ? 1 : 0;
        }

        // The window is one minute from the first new bucket: on a machine slow enough to cross it,
        // a second window's worth may pass before the refusal, never an unbounded number.
        await Assert.That(last).IsEqualTo(HttpStatusCode.TooManyRequests);
        await Assert.That(clock.Elapsed > TimeSpan.FromSeconds(55) ? accepted % 120 == 0 : accepted == 120).IsTrue().Because($"{accepted} accepted in {clock.Elapsed}");
        await Assert.That(JsonDocument.Parse(body).RootElement.GetProperty("code").GetString()).IsEqualTo("too_many_new_buckets");
    }
}
