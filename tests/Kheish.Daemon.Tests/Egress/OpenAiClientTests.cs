using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Egress;

/// <summary>
/// The official <c>openai</c> npm client, pointed at the proxy with an agent-plane API key (never
/// the provider key), against an upstream speaking the OpenAI wire format.
/// </summary>
public sealed class OpenAiClientTests
{
    private const string Script = """
        const OpenAI = require('openai');
        (async () => {
          const client = new OpenAI({
            baseURL: process.env.BASE_URL,
            apiKey: process.env.AGENT_KEY,
            maxRetries: 0,
            defaultHeaders: { 'X-Kheish-Run-Id': 'run-openai' },
          });
          const messages = [{ role: 'user', content: 'hello' }];
          const normal = await client.chat.completions.create({ model: 'gpt-test', messages });
          const stream = await client.chat.completions.create({ model: 'gpt-test', messages, stream: true });
          let streamed = '';
          let chunks = 0;
          for await (const chunk of stream) {
            chunks++;
            streamed += (chunk.choices[0] && chunk.choices[0].delta && chunk.choices[0].delta.content) || '';
          }
          console.log(JSON.stringify({ normal: normal.choices[0].message.content, model: normal.model, streamed, chunks }));
        })().catch(e => { console.error('client error: ' + (e && e.status) + ' ' + (e && e.message)); process.exit(1); });
        """;

    private static string? NodeModules()
    {
        string? dir = Environment.GetEnvironmentVariable("KHEISH_NODE_MODULES");
        if (string.IsNullOrEmpty(dir))
        {
            dir = Path.Combine(DaemonBinary.RepoRoot, ".cache", "npm", "node_modules");
        }

        return Directory.Exists(Path.Combine(dir, "openai")) ? dir : null;
    }

    private static async Task AnswerLikeOpenAiAsync(UpstreamRequest request, System.Net.HttpListenerResponse response)
    {
        response.StatusCode = 200;
        using JsonDocument body = JsonDocument.Parse(request.Body);
        if (body.RootElement.TryGetProperty("stream", out JsonElement stream) && stream.ValueKind == JsonValueKind.True)
        {
            response.ContentType = "text/event-stream";
            response.SendChunked = true;
            foreach (string piece in new[] { "Hel", "lo ", "from ", "SSE" })
            {
                string chunk = "{\"id\":\"chatcmpl-s\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-test\"," +
                    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + piece + "\"},\"finish_reason\":null}]}";
                await RecordingUpstream.WriteAsync(response, "data: " + chunk + "\n\n");
                await Task.Delay(20);
            }

            await RecordingUpstream.WriteAsync(response, "data: [DONE]\n\n");
            return;
        }

        response.ContentType = "application/json";
        await RecordingUpstream.WriteAsync(response,
            "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"gpt-test\"," +
            "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello from upstream\"},\"finish_reason\":\"stop\"}]," +
            "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":3,\"total_tokens\":4}}");
    }

    [Test]
    public async Task Official_openai_client_gets_normal_and_streamed_completions_through_the_proxy()
    {
        if (NodeModules() is not { } modules)
        {
            Skip.Test("the openai npm package is not installed (run scripts/test-deps.sh or set KHEISH_NODE_MODULES)");
            return;
        }

        await using EgressHarness h = await EgressHarness.StartAsync();
        h.Upstream.Handler = AnswerLikeOpenAiAsync;
        string script = h.Dir.File("client.cjs");
        File.WriteAllText(script, Script);

        var psi = new ProcessStartInfo("node", [script]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["NODE_PATH"] = modules;
        psi.Environment["BASE_URL"] = new Uri(h.Daemon.BaseUri, "/agent/v1/routes/openai").ToString();
        psi.Environment["AGENT_KEY"] = h.ApiKey;
        using var node = Process.Start(psi)!;
        Task<string> stdout = node.StandardOutput.ReadToEndAsync();
        Task<string> stderr = node.StandardError.ReadToEndAsync();
        await node.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        await Assert.That(node.ExitCode == 0).IsTrue();
        string output = await stdout;
        using JsonDocument doc = JsonDocument.Parse(output);
        await Assert.That(doc.RootElement.GetProperty("normal").GetString()).IsEqualTo("Hello from upstream");
        await Assert.That(doc.RootElement.GetProperty("streamed").GetString() == "Hello from SSE").IsTrue();
        await Assert.That(doc.RootElement.GetProperty("chunks").GetInt32()).IsEqualTo(4);
        UpstreamRequest[] received = [.. h.Upstream.Received];
        await Assert.That(received.Length).IsEqualTo(2);
        foreach (UpstreamRequest r in received)
        {
            await Assert.That(r.PathAndQuery).IsEqualTo("/v1/chat/completions");
        }

        foreach (UpstreamRequest r in received)
        {
            await Assert.That(r.Header("Authorization")).IsEqualTo("Bearer " + h.ProviderKey);
        }

        Canary.AssertAbsent(h.ProviderKey, await stdout + await stderr + h.Daemon.Logs, "client output and daemon logs");
        Canary.AssertAbsent(h.ApiKey, string.Join('\n', received.SelectMany(r => r.Headers.Values)), "headers sent upstream");
    }
}
