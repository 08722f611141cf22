using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Kheish.Daemon.Tests.Egress;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Accounts;

/// <summary>
/// The real Claude Code and Codex CLIs (npm <c>@anthropic-ai/claude-code</c>, <c>@openai/codex</c>),
/// pointed at account routes with an agent key, against loopback stand-ins for the Messages and
/// Responses APIs. The stand-in must receive the account's bearer; the CLI must print the
/// stand-in's answer and never see the account token. Any other traffic is sent to a dead
/// loopback proxy, so nothing leaves the machine.
/// </summary>
public sealed class RealCliTests
{
    private const string Answer = "STANDIN-ANSWER-7f3a";

    private static string? Binary(string relative)
    {
        string dir = Environment.GetEnvironmentVariable("KHEISH_NODE_MODULES") is { Length: > 0 } m
            ? m
            : Path.Combine(DaemonBinary.RepoRoot, ".cache", "npm", "node_modules");
        string path = Path.Combine(dir, relative);
        return File.Exists(path) ? path : null;
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string file, IEnumerable<string> args, Dictionary<string, string> env, string workDir)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false, WorkingDirectory = workDir };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment.Clear();
        psi.Environment["PATH"] = Environment.GetEnvironmentVariable("PATH");
        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }

        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Proxy settings that send anything not for the daemon to a closed loopback port.</summary>
    private static Dictionary<string, string> Isolated(string home) => new()
    {
        ["HOME"] = home,
        ["HTTPS_PROXY"] = $"http://127.0.0.1:{RecordingUpstream.FreePort()}",
        ["HTTP_PROXY"] = $"http://127.0.0.1:{RecordingUpstream.FreePort()}",
        ["https_proxy"] = $"http://127.0.0.1:{RecordingUpstream.FreePort()}",
        ["NO_PROXY"] = "127.0.0.1,localhost",
        ["no_proxy"] = "127.0.0.1,localhost",
    };

    private static async Task AnswerLikeMessagesApiAsync(UpstreamRequest request, HttpListenerResponse response)
    {
        bool stream = false;
        try
        {
            using JsonDocument body = JsonDocument.Parse(request.Body);
            stream = body.RootElement.TryGetProperty("stream", out JsonElement s) && s.ValueKind == JsonValueKind.True;
        }
        catch (JsonException)
        {
        }

        response.StatusCode = 200;
        const string message = "{\"id\":\"msg_standin\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}";
        if (!stream)
        {
            response.ContentType = "application/json";
            await RecordingUpstream.WriteAsync(response, message.Replace("\"content\":[]", $"\"content\":[{{\"type\":\"text\",\"text\":\"{Answer}\"}}]", StringComparison.Ordinal)
                .Replace("\"stop_reason\":null", "\"stop_reason\":\"end_turn\"", StringComparison.Ordinal));
            return;
        }

        response.ContentType = "text/event-stream";
        response.SendChunked = true;
        string[] events =
        [
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":" + message + "}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + Answer + "\"}}\n\n",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":4}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        ];
        foreach (string e in events)
        {
            await RecordingUpstream.WriteAsync(response, e);
        }
    }

    private static async Task AnswerLikeResponsesApiAsync(UpstreamRequest request, HttpListenerResponse response)
    {
        response.StatusCode = 200;
        response.ContentType = "text/event-stream";
        response.SendChunked = true;
        string item = "{\"type\":\"message\",\"id\":\"msg_standin\",\"role\":\"assistant\",\"status\":\"completed\",\"content\":[{\"type\":\"output_text\",\"text\":\"" + Answer + "\",\"annotations\":[]}]}";
        string[] events =
        [
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_standin\"}}\n\n",
            "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":\"message\",\"id\":\"msg_standin\",\"role\":\"assistant\",\"status\":\"in_progress\",\"content\":[]}}\n\n",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_standin\",\"output_index\":0,\"content_index\":0,\"delta\":\"" + Answer + "\"}\n\n",
            "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":" + item + "}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_standin\",\"usage\":{\"input_tokens\":3,\"input_tokens_details\":null,\"output_tokens\":4,\"output_tokens_details\":null,\"total_tokens\":7}}}\n\n",
        ];
        foreach (string e in events)
        {
            await RecordingUpstream.WriteAsync(response, e);
        }
    }

    [Test]
    public async Task Claude_code_talks_to_an_account_route_with_an_agent_key_and_never_sees_the_account_token()
    {
        if (Binary("@anthropic-ai/claude-code/bin/claude.exe") is not { } claude)
        {
            Skip.Test("@anthropic-ai/claude-code is not installed (run scripts/test-deps.sh)");
            return;
        }

        await using AccountHarness h = await AccountHarness.StartAsync();
        h.Upstream.Handler = AnswerLikeMessagesApiAsync;
        string home = h.Dir.File("claude-home");
        Directory.CreateDirectory(home);
        Dictionary<string, string> env = Isolated(home);
        env["ANTHROPIC_BASE_URL"] = new Uri(h.Daemon.BaseUri, "/agent/v1/routes/claude").ToString().TrimEnd('/');
        env["ANTHROPIC_AUTH_TOKEN"] = h.ApiKey;
        env["CLAUDE_CONFIG_DIR"] = Path.Combine(home, ".claude");
        env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1";
        env["DISABLE_AUTOUPDATER"] = "1";
        env["DISABLE_TELEMETRY"] = "1";
        env["DISABLE_ERROR_REPORTING"] = "1";

        var (exit, stdout, stderr) = await RunAsync(claude, ["-p", "Say the word from the stand-in.", "--model", "claude-sonnet-4-5"], env, home);

        await Assert.That(exit == 0).IsTrue().Because($"claude exited {exit}\n{stdout}\n{stderr}\n{h.Daemon.Logs}");
        await Assert.That(stdout).Contains(Answer);
        UpstreamRequest[] received = [.. h.Upstream.Received];
        await Assert.That(received).IsNotEmpty();
        foreach (var r in received)
        {
            await Assert.That(r.Header("Authorization")).IsEqualTo("Bearer " + h.ClaudeAccess);
        }
        foreach (var r in received)
        {
            await Assert.That(r.Header("x-api-key")).IsNull();
        }
        await Assert.That(received.Any(r => r.PathAndQuery.StartsWith("/v1/messages", StringComparison.Ordinal)
            && (r.Header("anthropic-beta") ?? "").Split(',').Contains("oauth-2025-04-20"))).IsTrue();
        await Assert.That(string.Join('\n', received.SelectMany(r => r.Headers.Values))).DoesNotContain(h.ApiKey);
        h.AssertNoTokenLeaked(stdout, stderr);
    }

    [Test]
    public async Task Codex_exec_talks_to_an_account_route_with_an_agent_key_and_never_sees_the_account_token()
    {
        if (Binary("@openai/codex/bin/codex.js") is not { } codex)
        {
            Skip.Test("@openai/codex is not installed (run scripts/test-deps.sh)");
            return;
        }

        await using AccountHarness h = await AccountHarness.StartAsync();
        h.Upstream.Handler = AnswerLikeResponsesApiAsync;
        string home = h.Dir.File("codex-home");
        string codexHome = Path.Combine(home, ".codex");
        Directory.CreateDirectory(codexHome);
        File.WriteAllText(Path.Combine(codexHome, "config.toml"), $"""
            model_provider = "kheish"
            model = "gpt-5-codex"

            [model_providers.kheish]
            name = "kheish-daemon"
            base_url = "{new Uri(h.Daemon.BaseUri, "/agent/v1/routes/codex").ToString().TrimEnd('/')}"
            env_key = "KHEISH_KEY"
            wire_api = "responses"
            request_max_retries = 0
            stream_max_retries = 0
            """);
        Dictionary<string, string> env = Isolated(home);
        env["CODEX_HOME"] = codexHome;
        env["KHEISH_KEY"] = h.ApiKey;

        var (exit, stdout, stderr) = await RunAsync("node", [codex, "exec", "--skip-git-repo-check", "Say the word from the stand-in."], env, home);

        await Assert.That(exit == 0).IsTrue().Because($"codex exited {exit}\n{stdout}\n{stderr}\n{h.Daemon.Logs}");
        await Assert.That(stdout + stderr).Contains(Answer);
        UpstreamRequest[] received = [.. h.Upstream.Received];
        await Assert.That(received.Any(r => r.PathAndQuery == "/backend-api/codex/responses")).IsTrue();
        foreach (var r in received)
        {
            await Assert.That(r.Header("Authorization")).IsEqualTo("Bearer " + h.CodexAccess);
        }
        foreach (var r in received)
        {
            await Assert.That(r.Header("ChatGPT-Account-ID")).IsEqualTo(AccountFixtures.CodexAccountId);
        }
        await Assert.That(string.Join('\n', received.SelectMany(r => r.Headers.Values))).DoesNotContain(h.ApiKey);
        h.AssertNoTokenLeaked(stdout, stderr);
    }
}
