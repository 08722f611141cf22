using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Egress;

/// <summary>The egress proxy on the real binary, against a real loopback upstream.</summary>
public sealed class EgressProxyTests
{
    private const string ChatBody = "{\"model\":\"gpt-test\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    internal static async Task<string> CodeOf(HttpResponseMessage r)
    {
        string text = await r.Content.ReadAsStringAsync();
        using JsonDocument doc = JsonDocument.Parse(text);
        return doc.RootElement.GetProperty("code").GetString()!;
    }

    internal static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Injects_the_provider_key_and_strips_every_credential_the_agent_sent()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/agent/v1/routes/openai/chat/completions?foo=bar&key=agent-leak&x=1");
        request.Content = Json(ChatBody);
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer sk-agent-own-key");
        request.Headers.TryAddWithoutValidation("x-goog-api-key", "agent-goog");
        request.Headers.TryAddWithoutValidation("Cookie", "session=agent-cookie");
        request.Headers.TryAddWithoutValidation("X-Kheish-Run-Id", "run-strip");
        request.Headers.TryAddWithoutValidation("X-Custom-Header", "kept");

        HttpResponseMessage r = await agent.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        UpstreamRequest got = Assert.Single(h.Upstream.Received);
        Assert.Equal("POST", got.Method);
        Assert.Equal("/v1/chat/completions?foo=bar&x=1", got.PathAndQuery);
        Assert.Equal(ChatBody, got.BodyText);
        Assert.Equal("Bearer " + h.ProviderKey, got.Header("Authorization"));
        Assert.Null(got.Header("X-API-Key"));
        Assert.Null(got.Header("x-goog-api-key"));
        Assert.Null(got.Header("Cookie"));
        Assert.Null(got.Header("X-Kheish-Run-Id"));
        Assert.Equal("kept", got.Header("X-Custom-Header"));
        Assert.Equal("application/json; charset=utf-8", got.Header("Content-Type"));
        Assert.DoesNotContain(got.Headers.Values, v => v.Contains(h.ApiKey, StringComparison.Ordinal));
        Assert.True(r.Headers.Contains("X-Kheish-Action-Id"));
        Canary.AssertAbsent(h.ProviderKey, await r.Content.ReadAsStringAsync() + r.Headers + h.Daemon.Logs, "response and daemon logs");
    }

    [Fact]
    public async Task Upstream_cookies_and_credential_headers_are_not_relayed_to_the_agent()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        h.Upstream.Handler = async (_, response) =>
        {
            response.StatusCode = 201;
            response.Headers.Add("Set-Cookie", "upstream=1");
            response.Headers.Add("X-Auth-Token", "upstream-token-value");
            response.Headers.Add("x-ratelimit-remaining-tokens", "999");
            response.Headers.Add("X-Request-Id", "req-42");
            await RecordingUpstream.WriteAsync(response, "{\"id\":1}");
        };
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/openai/models");

        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        Assert.False(r.Headers.Contains("Set-Cookie"));
        Assert.False(r.Headers.Contains("X-Auth-Token"));
        Assert.Equal("999", r.Headers.GetValues("x-ratelimit-remaining-tokens").Single());
        Assert.Equal("req-42", r.Headers.GetValues("X-Request-Id").Single());
        Assert.Equal("{\"id\":1}", await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Default_route_name_uses_the_routes_file_default_route()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/default/models");

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("/v1/models", Assert.Single(h.Upstream.Received).PathAndQuery);
    }

    [Fact]
    public async Task Unknown_route_is_a_404_route_not_found()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/nope/models");

        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        Assert.Equal("route_not_found", await CodeOf(r));
    }

    [Fact]
    public async Task A_request_without_an_api_key_never_reaches_the_upstream()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient anonymous = h.Daemon.Client();

        HttpResponseMessage r = await anonymous.PostAsync("/agent/v1/routes/openai/chat/completions", Json(ChatBody));

        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        Assert.Empty(h.Upstream.Received);
    }

    [Fact]
    public async Task A_key_whose_scope_denies_the_route_gets_403()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(scopeJson: "{\"route_deny\":[\"openai\"]}");
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/openai/chat/completions", Json(ChatBody));

        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal("scope_denied", await CodeOf(r));
        Assert.Empty(h.Upstream.Received);
    }

    [Fact]
    public async Task Invalid_context_id_header_is_a_400()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/agent/v1/routes/openai/models");
        request.Headers.TryAddWithoutValidation("X-Kheish-Run-Id", new string('r', 129));

        HttpResponseMessage r = await agent.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Equal("invalid_context_id", await CodeOf(r));
        Assert.Empty(h.Upstream.Received);
    }

    [Fact]
    public async Task Encoded_slashes_that_would_climb_out_of_the_base_path_are_refused()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/openai/x%2F..%2F..%2Fadmin");

        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Equal("invalid_upstream_path", await CodeOf(r));
        Assert.Empty(h.Upstream.Received);
    }

    [Fact]
    public async Task Dot_segments_never_reach_the_upstream()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();

        // The server normalises the path first: what is left names another route, unknown here.
        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/openai/%2e%2e/admin");

        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        Assert.Equal("route_not_found", await CodeOf(r));
        Assert.Empty(h.Upstream.Received);
    }

    [Fact]
    public async Task Body_over_the_egress_limit_is_413_payload_too_large()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(serveArgs: ["--egress-max-body-bytes", "2048"]);
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/openai/chat/completions", Json(new string('x', 5000)));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, r.StatusCode);
        Assert.Equal("payload_too_large", await CodeOf(r));
        Assert.Empty(h.Upstream.Received);
    }

    [Fact]
    public async Task Body_larger_than_the_control_plane_limit_but_within_the_egress_limit_is_forwarded()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(serveArgs: ["--max-body-bytes", "4096"]);
        using HttpClient agent = h.Agent();
        string big = "{\"model\":\"gpt-test\",\"pad\":\"" + new string('x', 100_000) + "\"}";

        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/openai/chat/completions", Json(big));

        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(big, Assert.Single(h.Upstream.Received).BodyText);
    }

    [Fact]
    public async Task Unreachable_upstream_is_502_upstream_unreachable()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/dead/models");

        Assert.Equal(HttpStatusCode.BadGateway, r.StatusCode);
        Assert.Equal("upstream_unreachable", await CodeOf(r));
    }

    [Fact]
    public async Task Upstream_slower_than_the_timeout_is_504_upstream_timeout()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(serveArgs: ["--egress-timeout-seconds", "1"]);
        h.Upstream.Handler = async (_, response) =>
        {
            await Task.Delay(4000);
            await RecordingUpstream.WriteAsync(response, "{}");
        };
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/openai/models");

        Assert.Equal(HttpStatusCode.GatewayTimeout, r.StatusCode);
        Assert.Equal("upstream_timeout", await CodeOf(r));
    }

    [Fact]
    public async Task Calls_beyond_the_route_concurrency_limit_get_429_route_busy()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(serveArgs: ["--egress-max-concurrency", "1"]);
        var release = new TaskCompletionSource();
        var arrived = new TaskCompletionSource();
        h.Upstream.Handler = async (_, response) =>
        {
            arrived.TrySetResult();
            await release.Task.WaitAsync(TimeSpan.FromSeconds(20));
            await RecordingUpstream.WriteAsync(response, "{}");
        };
        using HttpClient agent = h.Agent();
        Task<HttpResponseMessage> first = agent.GetAsync("/agent/v1/routes/openai/models");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        HttpResponseMessage second = await agent.GetAsync("/agent/v1/routes/openai/models");
        release.SetResult();

        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal("route_busy", await CodeOf(second));
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
    }

    [Fact]
    public async Task Server_sent_events_reach_the_client_before_the_upstream_finishes()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        var firstSeen = new TaskCompletionSource();
        h.Upstream.Handler = async (_, response) =>
        {
            response.StatusCode = 200;
            response.ContentType = "text/event-stream";
            response.SendChunked = true;
            await RecordingUpstream.WriteAsync(response, "data: one\n\n");
            // The second event is only sent once the client has seen the first through the proxy.
            await firstSeen.Task.WaitAsync(TimeSpan.FromSeconds(15));
            await RecordingUpstream.WriteAsync(response, "data: two\n\n");
        };
        using HttpClient agent = h.Agent();

        using HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/openai/stream", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await r.Content.ReadAsStreamAsync());
        string? line1 = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        firstSeen.SetResult();
        string rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("data: one", line1);
        Assert.Contains("data: two", rest);
        Assert.Equal("text/event-stream", r.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Revoking_the_keys_subject_refuses_the_next_call()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(principal: "agent:revoked-one");
        using HttpClient agent = h.Agent();
        using HttpClient admin = h.Admin();
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/agent/v1/routes/openai/models")).StatusCode);

        HttpResponseMessage revoke = await admin.PostAsync("/v1/runtime/auth/subjects/agent:revoked-one/revoke", null);
        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/openai/models");

        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        Assert.Equal("subject_revoked", await CodeOf(r));
        Assert.Single(h.Upstream.Received);
    }

    [Fact]
    public async Task Revoking_the_slot_refuses_calls_until_the_slot_is_rewritten()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();
        using HttpClient admin = h.Admin();

        HttpResponseMessage revoke = await admin.PostAsync($"/v1/runtime/auth/slots/{EgressHarness.Slot}/revoke", null);
        HttpResponseMessage refused = await agent.GetAsync("/agent/v1/routes/openai/models");
        string newKey = Canary.New("rotated");
        var env = h.Env;
        env["NEW_KEY"] = newKey;
        CliResult set = await Support.Cli.RunAsync(
            ["secrets", "set", EgressHarness.Slot, "--provider", "openai", "--from-env", "NEW_KEY", "--base-url", h.Daemon.BaseUri.ToString(), "--token", h.AdminToken], env);
        HttpResponseMessage after = await agent.GetAsync("/agent/v1/routes/openai/models");

        Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("slot_revoked", await CodeOf(refused));
        Assert.True(set.ExitCode == 0, set.ToString());
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal("Bearer " + newKey, Assert.Single(h.Upstream.Received).Header("Authorization"));
    }

    [Fact]
    public async Task An_unavailable_ledger_refuses_the_call_and_the_upstream_is_never_hit()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(beforeStart: harness =>
        {
            // A ledger with records needs its signing key: provide one, then a bucket that does not verify.
            string keyFile = Path.Combine(harness.Dir.StateRoot, "audit-signing.key");
            File.WriteAllText(keyFile, "{\"algorithm\":\"ed25519\",\"secret_key_hex\":\"" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\"}");
            File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            string dir = Path.Combine(harness.Dir.StateRoot, "external-actions");
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "run-broken.jsonl"), "this is not a ledger record\n");
        });
        using HttpClient agent = h.Agent();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/agent/v1/routes/openai/chat/completions") { Content = Json(ChatBody) };
        request.Headers.Add("X-Kheish-Run-Id", "run-broken");

        HttpResponseMessage r = await agent.SendAsync(request);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
        Assert.Equal("audit_unavailable", await CodeOf(r));
        Assert.Empty(h.Upstream.Received);
    }

    [Fact]
    public async Task A_client_that_disconnects_cancels_the_upstream_call_and_the_action_is_recorded_failed()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        var arrived = new TaskCompletionSource();
        h.Upstream.Handler = async (_, response) =>
        {
            arrived.TrySetResult();
            await Task.Delay(TimeSpan.FromSeconds(20));
            await RecordingUpstream.WriteAsync(response, "{}");
        };
        using var cts = new CancellationTokenSource();
        using HttpClient agent = h.Agent();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/agent/v1/routes/openai/models");
        request.Headers.Add("X-Kheish-Run-Id", "run-abort");
        Task<HttpResponseMessage> call = agent.SendAsync(request, cts.Token);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        string outcome = string.Empty;
        for (int attempt = 0; attempt < 50 && outcome.Length == 0; attempt++)
        {
            await Task.Delay(100);
            CliResult listing = await h.OnlineAsync("runs", "external-actions", "run-abort", "-o", "json");
            using JsonDocument doc = JsonDocument.Parse(listing.Stdout);
            outcome = doc.RootElement.GetProperty("external_actions").EnumerateArray()
                .Where(e => e.GetProperty("phase").GetString() == "failed")
                .Select(e => e.GetProperty("outcome").GetString()!).FirstOrDefault() ?? string.Empty;
        }

        Assert.Equal("client_aborted", outcome);
    }

    [Fact]
    public async Task Every_call_is_a_started_completed_pair_the_ledger_verifies_and_the_key_leaks_nowhere()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();
        var responses = new StringBuilder();
        var actionIds = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/agent/v1/routes/openai/chat/completions?n={i}")
            {
                Content = Json(ChatBody.Replace("hi", "hi " + i, StringComparison.Ordinal)),
            };
            request.Headers.Add("X-Kheish-Run-Id", "run-ledger");
            request.Headers.Add("X-Kheish-Agent-Id", "coder-1");
            request.Headers.Add("X-Kheish-Tool-Call-Id", "call-" + i);
            HttpResponseMessage r = await agent.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            actionIds.Add(r.Headers.GetValues("X-Kheish-Action-Id").Single());
            responses.Append(r.Headers).Append(await r.Content.ReadAsStringAsync());
        }

        // The completed record is appended right after the last byte is relayed.
        JsonElement[] records = [];
        for (int attempt = 0; attempt < 40 && records.Length < 6; attempt++)
        {
            CliResult listing = await h.OnlineAsync("runs", "external-actions", "run-ledger", "-o", "json");
            Assert.True(listing.ExitCode == 0, listing.ToString());
            responses.Append(listing.All);
            using JsonDocument doc = JsonDocument.Parse(listing.Stdout);
            records = [.. doc.RootElement.GetProperty("external_actions").EnumerateArray().Select(e => e.Clone())];
            if (records.Length < 6)
            {
                await Task.Delay(100);
            }
        }

        Assert.Equal(6, records.Length);
        JsonElement[] started = [.. records.Where(e => e.GetProperty("phase").GetString() == "started")];
        JsonElement[] completed = [.. records.Where(e => e.GetProperty("phase").GetString() == "completed")];
        Assert.Equal(3, started.Length);
        Assert.Equal(3, completed.Length);
        Assert.Equal(actionIds, started.Select(s => s.GetProperty("action_id").GetString()));
        for (int i = 0; i < 3; i++)
        {
            string expectedDigest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
                Encoding.UTF8.GetBytes(ChatBody.Replace("hi", "hi " + i, StringComparison.Ordinal))));
            Assert.Equal("provider_request", started[i].GetProperty("kind").GetString());
            Assert.Equal("openai POST /chat/completions?n", started[i].GetProperty("target").GetString());
            Assert.Equal(expectedDigest, started[i].GetProperty("request_digest").GetString());
            // The completed record is written after the response, off the request path: pair by digest.
            JsonElement done = Assert.Single(completed, c => c.GetProperty("request_digest").GetString() == expectedDigest);
            Assert.Equal("http_200", done.GetProperty("outcome").GetString());
            Assert.Equal(
                Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("{\"ok\":true}"u8)),
                done.GetProperty("response_digest").GetString());
            Assert.Equal("agent:coder", started[i].GetProperty("principal_id").GetString());
            Assert.Equal("coder-1", started[i].GetProperty("agent_id").GetString());
            Assert.Equal("call-" + i, started[i].GetProperty("tool_call_id").GetString());
            Assert.StartsWith("grant-", started[i].GetProperty("grant_id").GetString());
        }

        Assert.Equal(0, await h.Daemon.StopAsync());
        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot], h.Env);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Canary.AssertAbsent(h.ProviderKey, responses + verify.All + h.Daemon.Logs, "responses, CLI output and daemon logs");
        Canary.AssertAbsentFromFiles(h.ProviderKey, h.Dir, "global-slots.json");
    }
}
