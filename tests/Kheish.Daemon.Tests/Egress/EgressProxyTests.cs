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

    [Test]
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

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
        UpstreamRequest got = (await Assert.That(h.Upstream.Received).HasSingleItem())!;
        await Assert.That(got.Method).IsEqualTo("POST");
        await Assert.That(got.PathAndQuery).IsEqualTo("/v1/chat/completions?foo=bar&x=1");
        await Assert.That(got.BodyText).IsEqualTo(ChatBody);
        await Assert.That(got.Header("Authorization")).IsEqualTo("Bearer " + h.ProviderKey);
        await Assert.That(got.Header("X-API-Key")).IsNull();
        await Assert.That(got.Header("x-goog-api-key")).IsNull();
        await Assert.That(got.Header("Cookie")).IsNull();
        await Assert.That(got.Header("X-Kheish-Run-Id")).IsNull();
        await Assert.That(got.Header("X-Custom-Header")).IsEqualTo("kept");
        await Assert.That(got.Header("Content-Type")).IsEqualTo("application/json; charset=utf-8");
        await Assert.That(got.Headers.Values).DoesNotContain(v => v.Contains(h.ApiKey, StringComparison.Ordinal));
        await Assert.That(r.Headers.Contains("X-Kheish-Action-Id")).IsTrue();
        Canary.AssertAbsent(h.ProviderKey, await r.Content.ReadAsStringAsync() + r.Headers + h.Daemon.Logs, "response and daemon logs");
    }

    [Test]
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

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Created);
        await Assert.That(r.Headers.Contains("Set-Cookie")).IsFalse();
        await Assert.That(r.Headers.Contains("X-Auth-Token")).IsFalse();
        await Assert.That(r.Headers.GetValues("x-ratelimit-remaining-tokens").Single()).IsEqualTo("999");
        await Assert.That(r.Headers.GetValues("X-Request-Id").Single()).IsEqualTo("req-42");
        await Assert.That(await r.Content.ReadAsStringAsync()).IsEqualTo("{\"id\":1}");
    }

    [Test]
    public async Task Default_route_name_uses_the_routes_file_default_route()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/default/models");

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That((await Assert.That(h.Upstream.Received).HasSingleItem())!.PathAndQuery).IsEqualTo("/v1/models");
    }

    [Test]
    public async Task Unknown_route_is_a_404_route_not_found()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/nope/models");

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.NotFound);
        await Assert.That(await CodeOf(r)).IsEqualTo("route_not_found");
    }

    [Test]
    public async Task A_request_without_an_api_key_never_reaches_the_upstream()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient anonymous = h.Daemon.Client();

        HttpResponseMessage r = await anonymous.PostAsync("/agent/v1/routes/openai/chat/completions", Json(ChatBody));

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(h.Upstream.Received).IsEmpty();
    }

    [Test]
    public async Task A_key_whose_scope_denies_the_route_gets_403()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(scopeJson: "{\"route_deny\":[\"openai\"]}");
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/openai/chat/completions", Json(ChatBody));

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Forbidden);
        await Assert.That(await CodeOf(r)).IsEqualTo("scope_denied");
        await Assert.That(h.Upstream.Received).IsEmpty();
    }

    [Test]
    public async Task Invalid_context_id_header_is_a_400()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/agent/v1/routes/openai/models");
        request.Headers.TryAddWithoutValidation("X-Kheish-Run-Id", new string('r', 129));

        HttpResponseMessage r = await agent.SendAsync(request);

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
        await Assert.That(await CodeOf(r)).IsEqualTo("invalid_context_id");
        await Assert.That(h.Upstream.Received).IsEmpty();
    }

    [Test]
    public async Task Encoded_slashes_that_would_climb_out_of_the_base_path_are_refused()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/openai/x%2F..%2F..%2Fadmin");

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
        await Assert.That(await CodeOf(r)).IsEqualTo("invalid_upstream_path");
        await Assert.That(h.Upstream.Received).IsEmpty();
    }

    [Test]
    public async Task Dot_segments_never_reach_the_upstream()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();

        // The server normalises the path first: what is left names another route, unknown here.
        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/openai/%2e%2e/admin");

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.NotFound);
        await Assert.That(await CodeOf(r)).IsEqualTo("route_not_found");
        await Assert.That(h.Upstream.Received).IsEmpty();
    }

    [Test]
    public async Task Body_over_the_egress_limit_is_413_payload_too_large()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(serveArgs: ["--egress-max-body-bytes", "2048"]);
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/openai/chat/completions", Json(new string('x', 5000)));

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.RequestEntityTooLarge);
        await Assert.That(await CodeOf(r)).IsEqualTo("payload_too_large");
        await Assert.That(h.Upstream.Received).IsEmpty();
    }

    [Test]
    public async Task Body_larger_than_the_control_plane_limit_but_within_the_egress_limit_is_forwarded()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(serveArgs: ["--max-body-bytes", "4096"]);
        using HttpClient agent = h.Agent();
        string big = "{\"pad\":\"" + new string('x', 100_000) + "\"}";

        HttpResponseMessage r = await agent.PostAsync("/agent/v1/routes/openai/chat/completions", Json(big));

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That((await Assert.That(h.Upstream.Received).HasSingleItem())!.BodyText).IsEqualTo(big);
    }

    [Test]
    public async Task Unreachable_upstream_is_502_upstream_unreachable()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient agent = h.Agent();

        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/dead/models");

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.BadGateway);
        await Assert.That(await CodeOf(r)).IsEqualTo("upstream_unreachable");
    }

    [Test]
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

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.GatewayTimeout);
        await Assert.That(await CodeOf(r)).IsEqualTo("upstream_timeout");
    }

    [Test]
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

        await Assert.That(second.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
        await Assert.That(await CodeOf(second)).IsEqualTo("route_busy");
        await Assert.That((await first).StatusCode).IsEqualTo(HttpStatusCode.OK);
    }

    [Test]
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

        await Assert.That(line1).IsEqualTo("data: one");
        await Assert.That(rest).Contains("data: two");
        await Assert.That(r.Content.Headers.ContentType?.MediaType).IsEqualTo("text/event-stream");
    }

    [Test]
    public async Task Revoking_the_keys_subject_refuses_the_next_call()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(principal: "agent:revoked-one");
        using HttpClient agent = h.Agent();
        using HttpClient admin = h.Admin();
        await Assert.That((await agent.GetAsync("/agent/v1/routes/openai/models")).StatusCode).IsEqualTo(HttpStatusCode.OK);

        HttpResponseMessage revoke = await admin.PostAsync("/v1/runtime/auth/subjects/agent:revoked-one/revoke", null);
        HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/openai/models");

        await Assert.That(revoke.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(await CodeOf(r)).IsEqualTo("subject_revoked");
        await Assert.That(h.Upstream.Received).HasSingleItem();
    }

    [Test]
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

        await Assert.That(revoke.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(refused.StatusCode).IsEqualTo(HttpStatusCode.Forbidden);
        await Assert.That(await CodeOf(refused)).IsEqualTo("slot_revoked");
        await Assert.That(set.ExitCode == 0).IsTrue();
        await Assert.That(after.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That((await Assert.That(h.Upstream.Received).HasSingleItem())!.Header("Authorization")).IsEqualTo("Bearer " + newKey);
    }

    [Test]
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

        await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        await Assert.That(await CodeOf(r)).IsEqualTo("audit_unavailable");
        await Assert.That(h.Upstream.Received).IsEmpty();
    }

    [Test]
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
        await Assert.That(async () => await call).Throws<OperationCanceledException>();
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

        await Assert.That(outcome).IsEqualTo("client_aborted");
    }

    [Test]
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
            await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
            actionIds.Add(r.Headers.GetValues("X-Kheish-Action-Id").Single());
            responses.Append(r.Headers).Append(await r.Content.ReadAsStringAsync());
        }

        // The completed record is appended right after the last byte is relayed.
        JsonElement[] records = [];
        for (int attempt = 0; attempt < 40 && records.Length < 6; attempt++)
        {
            CliResult listing = await h.OnlineAsync("runs", "external-actions", "run-ledger", "-o", "json");
            await Assert.That(listing.ExitCode == 0).IsTrue();
            responses.Append(listing.All);
            using JsonDocument doc = JsonDocument.Parse(listing.Stdout);
            records = [.. doc.RootElement.GetProperty("external_actions").EnumerateArray().Select(e => e.Clone())];
            if (records.Length < 6)
            {
                await Task.Delay(100);
            }
        }

        await Assert.That(records.Length).IsEqualTo(6);
        JsonElement[] started = [.. records.Where(e => e.GetProperty("phase").GetString() == "started")];
        JsonElement[] completed = [.. records.Where(e => e.GetProperty("phase").GetString() == "completed")];
        await Assert.That(started.Length).IsEqualTo(3);
        await Assert.That(completed.Length).IsEqualTo(3);
        await Assert.That(started.Select(s => s.GetProperty("action_id").GetString()!)).IsEquivalentTo(actionIds, CollectionOrdering.Matching);
        for (int i = 0; i < 3; i++)
        {
            string expectedDigest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
                Encoding.UTF8.GetBytes(ChatBody.Replace("hi", "hi " + i, StringComparison.Ordinal))));
            await Assert.That(started[i].GetProperty("kind").GetString()).IsEqualTo("provider_request");
            await Assert.That(started[i].GetProperty("target").GetString()).IsEqualTo("openai POST /chat/completions?n");
            await Assert.That(started[i].GetProperty("request_digest").GetString()).IsEqualTo(expectedDigest);
            // The completed record is written after the response, off the request path: pair by digest.
            JsonElement done = await Assert.That(completed).HasSingleItem(c => c.GetProperty("request_digest").GetString() == expectedDigest);
            await Assert.That(done.GetProperty("outcome").GetString()).IsEqualTo("http_200");
            await Assert.That(done.GetProperty("response_digest").GetString()).IsEqualTo(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("{\"ok\":true}"u8)));
            await Assert.That(started[i].GetProperty("principal_id").GetString()).IsEqualTo("agent:coder");
            await Assert.That(started[i].GetProperty("agent_id").GetString()).IsEqualTo("coder-1");
            await Assert.That(started[i].GetProperty("tool_call_id").GetString()).IsEqualTo("call-" + i);
            await Assert.That(started[i].GetProperty("grant_id").GetString()).StartsWith("grant-");
        }

        await Assert.That(await h.Daemon.StopAsync()).IsEqualTo(0);
        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot], h.Env);
        await Assert.That(verify.ExitCode == 0).IsTrue();
        Canary.AssertAbsent(h.ProviderKey, responses + verify.All + h.Daemon.Logs, "responses, CLI output and daemon logs");
        Canary.AssertAbsentFromFiles(h.ProviderKey, h.Dir, "global-slots.json");
    }
}
