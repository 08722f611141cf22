using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Egress;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Limits;

/// <summary>
/// Per-key limits on the real binary: rate_limit, max_concurrent and budgets (tokens counted from
/// a loopback upstream's usage, normal and streamed), durable across a restart, shown to the
/// official openai npm client.
/// </summary>
public sealed class KeyLimitsTests
{
    private const string ChatBody = """{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}""";
    private const string StreamBody = """{"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}""";
    private const string StreamWithoutUsageBody = """{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}""";

    /// <summary>OpenAI wire format with usage: 10 prompt + 10 completion tokens per answer, streamed or not.</summary>
    internal static async Task AnswerWithUsageAsync(UpstreamRequest request, HttpListenerResponse response)
    {
        response.StatusCode = 200;
        bool stream = request.Body.Length > 0 && request.BodyText.Contains("\"stream\":true", StringComparison.Ordinal);
        if (stream)
        {
            response.ContentType = "text/event-stream";
            response.SendChunked = true;
            await RecordingUpstream.WriteAsync(response, "data: {\"id\":\"s\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"usage: {\\\"prompt_tokens\\\": 100000}\"},\"finish_reason\":null}],\"usage\":null}\n\n");
            await RecordingUpstream.WriteAsync(response, "data: {\"id\":\"s\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-test\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":10,\"total_tokens\":20}}\n\n");
            await RecordingUpstream.WriteAsync(response, "data: [DONE]\n\n");
            return;
        }

        response.ContentType = "application/json";
        await RecordingUpstream.WriteAsync(response,
            "{\"id\":\"c\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-test\"," +
            "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}]," +
            "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":10,\"total_tokens\":20}}");
    }

    private static Task<HttpResponseMessage> ChatAsync(HttpClient agent, string body = ChatBody) =>
        agent.PostAsync("/agent/v1/routes/openai/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));

    private static async Task<(string Code, string ProviderMessage, string ProviderType)> ProblemAsync(HttpResponseMessage response)
    {
        using JsonDocument doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        JsonElement error = doc.RootElement.GetProperty("error");
        return (doc.RootElement.GetProperty("code").GetString()!, error.GetProperty("message").GetString()!, error.GetProperty("type").GetString()!);
    }

    [Test]
    public async Task A_burst_beyond_rate_limit_gets_429_with_retry_after_and_the_next_window_passes()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(keyArgs: ["--rate-limit", "60"]);
        using HttpClient agent = h.Agent();

        // 60 per minute, burst 60: the burst passes, then one token a second. Under load more than
        // 60 may pass (refill while sending); the first refusal must come well before 200.
        int passed = 0;
        HttpResponseMessage? refused = null;
        for (int i = 0; i < 200 && refused is null; i++)
        {
            HttpResponseMessage r = await agent.GetAsync("/agent/v1/routes/openai/models");
            if (r.StatusCode == HttpStatusCode.TooManyRequests)
            {
                refused = r;
            }
            else
            {
                await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.OK);
                passed++;
            }
        }

        await Assert.That(refused).IsNotNull();
        await Assert.That(passed).IsGreaterThanOrEqualTo(60);
        (string code, string message, string type) = await ProblemAsync(refused!);
        await Assert.That(code).IsEqualTo("rate_limited_key");
        await Assert.That(type).IsEqualTo("rate_limit_error");
        await Assert.That(message).Contains("60 requests per minute");
        int retryAfter = int.Parse(refused!.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        await Assert.That(retryAfter).IsBetween(1, 60);
        int upstreamCalls = h.Upstream.Received.Count;
        await Assert.That(upstreamCalls).IsEqualTo(passed);

        await Task.Delay(TimeSpan.FromSeconds(retryAfter + 1));
        HttpResponseMessage next = await agent.GetAsync("/agent/v1/routes/openai/models");
        await Assert.That(next.StatusCode).IsEqualTo(HttpStatusCode.OK);
        Canary.AssertAbsent(h.ProviderKey, h.Daemon.Logs + message, "daemon logs and the refusal");
    }

    [Test]
    public async Task Max_concurrent_refuses_the_extra_call_while_one_is_in_flight()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(keyArgs: ["--max-concurrent", "1"]);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Upstream.Handler = async (request, response) =>
        {
            entered.TrySetResult();
            await release.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await AnswerWithUsageAsync(request, response);
        };
        using HttpClient agent = h.Agent();
        using HttpClient other = h.Agent();

        Task<HttpResponseMessage> held = ChatAsync(agent);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(60));
        HttpResponseMessage refused = await ChatAsync(other);
        await Assert.That(refused.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
        await Assert.That((await ProblemAsync(refused)).Code).IsEqualTo("concurrency_limited_key");
        await Assert.That(refused.Headers.Contains("Retry-After")).IsTrue();

        release.TrySetResult();
        await Assert.That((await held).StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That((await ChatAsync(other)).StatusCode).IsEqualTo(HttpStatusCode.OK);
    }

    [Test]
    public async Task A_daily_request_budget_holds_for_calls_in_flight_together()
    {
        // Eight calls at once with three requests left: three go out, five are refused. The budget
        // used to be checked against the count of calls already started, so all eight passed.
        await using EgressHarness h = await EgressHarness.StartAsync(keyArgs: ["--budget-requests-per-day", "3"], serveArgs: ["--http-readonly-token", "ro-" + Guid.NewGuid().ToString("N")]);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        h.Upstream.Handler = async (request, response) =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await AnswerWithUsageAsync(request, response);
        };
        var agents = Enumerable.Range(0, 8).Select(_ => h.Agent()).ToList();
        try
        {
            var calls = agents.Select(agent => ChatAsync(agent)).ToList();
            // The held calls answer only once released; the refused ones answer at once.
            for (var wait = Stopwatch.StartNew(); calls.Count(c => c.IsCompleted) < 5 && wait.Elapsed < TimeSpan.FromSeconds(30);)
            {
                await Task.Delay(50);
            }

            await Task.Delay(300);
            List<HttpResponseMessage> refusals = calls.Where(c => c.IsCompleted).Select(c => c.Result).ToList();
            await Assert.That(refusals.Count).IsEqualTo(5).Because($"{h.Upstream.Received.Count} reached the upstream");
            foreach (HttpResponseMessage refused in refusals)
            {
                await Assert.That(refused.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
                (string code, string message, _) = await ProblemAsync(refused);
                await Assert.That(code).IsEqualTo("budget_exhausted");
                await Assert.That(message).Contains("3 requests for today");
                await Assert.That(refused.Headers.Contains("Retry-After")).IsTrue();
            }

            release.TrySetResult();
            HttpResponseMessage[] all = await Task.WhenAll(calls);
            await Assert.That(all.Count(r => r.StatusCode == HttpStatusCode.OK)).IsEqualTo(3);
            await Assert.That(h.Upstream.Received.Count).IsEqualTo(3);
            HttpResponseMessage after = await ChatAsync(agents[0]);
            await Assert.That(after.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
            await Assert.That(h.Upstream.Received.Count).IsEqualTo(3);
        }
        finally
        {
            release.TrySetResult();
            agents.ForEach(a => a.Dispose());
        }

        await UsageShowsAsync(h, requests: 3, tokens: 60);
    }

    [Test]
    public async Task A_token_budget_counted_from_upstream_usage_stops_at_the_limit_and_survives_a_restart()
    {
        await using EgressHarness h = await EgressHarness.StartAsync(keyArgs: ["--budget-tokens-per-day", "40"], serveArgs: ["--http-readonly-token", "ro-" + Guid.NewGuid().ToString("N")]);
        h.Upstream.Handler = AnswerWithUsageAsync;
        using (HttpClient agent = h.Agent())
        {
            // A stream that would not report its usage cannot be counted: refused, nothing sent.
            HttpResponseMessage uncountable = await ChatAsync(agent, StreamWithoutUsageBody);
            await Assert.That(uncountable.StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
            await Assert.That((await ProblemAsync(uncountable)).Code).IsEqualTo("stream_usage_required");
            await Assert.That(h.Upstream.Received.Count).IsEqualTo(0);

            HttpResponseMessage normal = await ChatAsync(agent);
            await Assert.That(normal.StatusCode).IsEqualTo(HttpStatusCode.OK);
            HttpResponseMessage streamed = await ChatAsync(agent, StreamBody);
            await Assert.That(streamed.StatusCode).IsEqualTo(HttpStatusCode.OK);
            await Assert.That(await streamed.Content.ReadAsStringAsync()).Contains("[DONE]");

            // 20 + 20 tokens = the budget: the next call is refused before it goes out.
            int before = h.Upstream.Received.Count;
            HttpResponseMessage over = await ChatAsync(agent);
            await Assert.That(over.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
            (string code, string message, _) = await ProblemAsync(over);
            await Assert.That(code).IsEqualTo("budget_exhausted");
            await Assert.That(message).Contains("40 tokens for today");
            await Assert.That(over.Headers.Contains("Retry-After")).IsTrue();
            await Assert.That(h.Upstream.Received.Count).IsEqualTo(before);
        }

        await UsageShowsAsync(h, requests: 2, tokens: 40);

        await h.RestartAsync();
        using (HttpClient agent = h.Agent())
        {
            // The month is read back in the background; until then the budgeted key gets 503 usage_restoring.
            HttpResponseMessage afterRestart = await ChatAsync(agent);
            for (var wait = System.Diagnostics.Stopwatch.StartNew(); afterRestart.StatusCode == HttpStatusCode.ServiceUnavailable && wait.Elapsed < TimeSpan.FromSeconds(30);)
            {
                await Assert.That((await ProblemAsync(afterRestart)).Code).IsEqualTo("usage_restoring");
                await Task.Delay(100);
                afterRestart = await ChatAsync(agent);
            }

            await Assert.That(afterRestart.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
            await Assert.That((await ProblemAsync(afterRestart)).Code).IsEqualTo("budget_exhausted");
        }

        await UsageShowsAsync(h, requests: 2, tokens: 40);
        CliResult cli = await h.OnlineAsync("security", "usage", "--key", h.KeyId, "-o", "json");
        await Assert.That(cli.ExitCode).IsEqualTo(0).Because(cli.ToString());
        using (JsonDocument doc = JsonDocument.Parse(cli.Stdout))
        {
            JsonElement row = doc.RootElement.GetProperty("usage").EnumerateArray().Single();
            await Assert.That(row.GetProperty("total_tokens").GetInt64()).IsEqualTo(40);
        }

        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot]);
        await Assert.That(verify.ExitCode).IsEqualTo(0).Because(verify.ToString());
        Canary.AssertAbsent(h.ProviderKey, h.Daemon.Logs + cli.Stdout, "daemon logs and usage output");
    }

    private static async Task UsageShowsAsync(EgressHarness h, long requests, long tokens)
    {
        using HttpClient admin = h.Admin();
        using JsonDocument doc = JsonDocument.Parse(await admin.GetStringAsync($"/v1/runtime/usage?key={h.KeyId}&route=openai"));
        JsonElement row = doc.RootElement.GetProperty("usage").EnumerateArray().Single();
        await Assert.That(row.GetProperty("requests").GetInt64()).IsEqualTo(requests);
        await Assert.That(row.GetProperty("input_tokens").GetInt64() + row.GetProperty("output_tokens").GetInt64()).IsEqualTo(tokens);
        JsonElement key = doc.RootElement.GetProperty("keys").EnumerateArray().Single();
        await Assert.That(key.GetProperty("tokens_today").GetInt64()).IsEqualTo(tokens);
    }

    [Test]
    public async Task Usage_query_parameters_are_validated()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        using HttpClient admin = h.Admin();
        foreach (string query in new[] { "key=a%20b", "route=..%2Fx", "since=yesterday" })
        {
            HttpResponseMessage r = await admin.GetAsync("/v1/runtime/usage?" + query);
            await Assert.That(r.StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
            await Assert.That((await r.Content.ReadAsStringAsync())).Contains("invalid_query");
        }

        using HttpClient agent = h.Agent();
        await Assert.That((await agent.GetAsync("/v1/runtime/usage")).StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
    }

    [Test]
    public async Task Generate_key_refuses_bad_limits_and_leaves_the_file_unchanged()
    {
        await using EgressHarness h = await EgressHarness.StartAsync();
        string file = Path.Combine(h.Project, ".kheish", "security.json");
        string before = File.ReadAllText(file);
        CliResult zero = await Support.Cli.RunAsync(["security", "generate-key", "--project-root", h.Project, "--rate-limit", "0"], h.Env);
        await Assert.That(zero.ExitCode).IsNotEqualTo(0);
        await Assert.That(zero.Stderr).Contains("rate_limit must be an integer from 1");
        CliResult budget = await Support.Cli.RunAsync(["security", "generate-key", "--project-root", h.Project, "--budget-tokens-per-month", "-5"], h.Env);
        await Assert.That(budget.ExitCode).IsNotEqualTo(0);
        await Assert.That(File.ReadAllText(file)).IsEqualTo(before);

        using HttpClient admin = h.Admin();
        HttpResponseMessage api = await admin.PostAsync("/v1/runtime/security/keys",
            new StringContent("""{"principal":"agent:x","rate_limit":10,"budget":{"tokens_per_day":0}}""", Encoding.UTF8, "application/json"));
        await Assert.That(api.StatusCode).IsEqualTo(HttpStatusCode.BadRequest);
        await Assert.That(await api.Content.ReadAsStringAsync()).Contains("budget.tokens_per_day");
        HttpResponseMessage ok = await admin.PostAsync("/v1/runtime/security/keys",
            new StringContent("""{"principal":"agent:x","rate_limit":10,"max_concurrent":2,"budget":{"requests_per_day":5}}""", Encoding.UTF8, "application/json"));
        await Assert.That(ok.StatusCode).IsEqualTo(HttpStatusCode.OK);
        using JsonDocument status = JsonDocument.Parse(await admin.GetStringAsync("/v1/runtime/security"));
        JsonElement made = status.RootElement.GetProperty("keys").EnumerateArray().Single(k => k.GetProperty("principal").GetString() == "agent:x");
        await Assert.That(made.GetProperty("rate_limit").GetInt32()).IsEqualTo(10);
        await Assert.That(made.GetProperty("budget").GetProperty("requests_per_day").GetInt64()).IsEqualTo(5);
    }

    private const string OpenAiScript = """
        const OpenAI = require('openai');
        (async () => {
          const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.AGENT_KEY, maxRetries: 0 });
          const messages = [{ role: 'user', content: 'hello' }];
          await client.chat.completions.create({ model: 'gpt-test', messages });
          try {
            await client.chat.completions.create({ model: 'gpt-test', messages });
            console.log(JSON.stringify({ refused: false }));
          } catch (e) {
            console.log(JSON.stringify({ refused: true, status: e.status, message: e.message, code: e.code, type: e.type }));
          }
        })().catch(e => { console.error('client error: ' + (e && e.message)); process.exit(1); });
        """;

    [Test]
    public async Task The_openai_npm_client_shows_the_budget_refusal_message()
    {
        if (NodePeers.Modules("openai") is not { } modules)
        {
            Skip.Test("the openai npm package is not installed (run scripts/test-deps.sh or set KHEISH_NODE_MODULES)");
            return;
        }

        await using EgressHarness h = await EgressHarness.StartAsync(keyArgs: ["--budget-requests-per-day", "1"]);
        h.Upstream.Handler = AnswerWithUsageAsync;
        string output = await NodePeers.RunAsync(h.Dir.File("client.cjs"), OpenAiScript, modules, new()
        {
            ["BASE_URL"] = new Uri(h.Daemon.BaseUri, "/agent/v1/routes/openai").ToString(),
            ["AGENT_KEY"] = h.ApiKey,
        });
        using JsonDocument doc = JsonDocument.Parse(output);
        await Assert.That(doc.RootElement.GetProperty("refused").GetBoolean()).IsTrue();
        await Assert.That(doc.RootElement.GetProperty("status").GetInt32()).IsEqualTo(429);
        await Assert.That(doc.RootElement.GetProperty("code").GetString()).IsEqualTo("budget_exhausted");
        await Assert.That(doc.RootElement.GetProperty("message").GetString()!).Contains("budget of 1 requests for today");
        Canary.AssertAbsent(h.ProviderKey, output, "client output");
    }
}

/// <summary>Runs a Node script against the npm peers in .cache/npm.</summary>
internal static class NodePeers
{
    public static string? Modules(string package)
    {
        string? dir = Environment.GetEnvironmentVariable("KHEISH_NODE_MODULES");
        if (string.IsNullOrEmpty(dir))
        {
            dir = Path.Combine(DaemonBinary.RepoRoot, ".cache", "npm", "node_modules");
        }

        return Directory.Exists(Path.Combine(dir, package)) ? dir : null;
    }

    public static async Task<string> RunAsync(string scriptPath, string script, string modules, Dictionary<string, string> env, string? stdin = null)
    {
        File.WriteAllText(scriptPath, script);
        var psi = new ProcessStartInfo("node", [scriptPath])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null, UseShellExecute = false,
        };
        psi.Environment["NODE_PATH"] = modules;
        foreach ((string k, string v) in env)
        {
            psi.Environment[k] = v;
        }

        using var node = Process.Start(psi)!;
        if (stdin is not null)
        {
            await node.StandardInput.WriteAsync(stdin);
            node.StandardInput.Close();
        }

        Task<string> stdout = node.StandardOutput.ReadToEndAsync();
        Task<string> stderr = node.StandardError.ReadToEndAsync();
        await node.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(90));
        if (node.ExitCode != 0)
        {
            throw new InvalidOperationException($"node exited {node.ExitCode}: {await stderr}");
        }

        return await stdout;
    }
}
