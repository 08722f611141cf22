using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Kheish.Bench;

/// <summary>
/// A compiled MCP load generator (issue 13): N clients, each its own Streamable HTTP session
/// (initialize, notifications/initialized, then tools/call in a loop), written as raw JSON-RPC
/// over one keep-alive connection per client. The TypeScript SDK client costs more CPU per call
/// than the gateways it measures on a 2-core machine, so calls/s at 16 clients measured with it is
/// the client's ceiling; this one costs a few tens of microseconds per call, so the servers'
/// throughput is what shows. Every answer is checked to contain the echoed text.
/// Prints one JSON line: p50, p99 (ms), rps, n — the shape scripts/bench/mcp.sh reads.
/// </summary>
internal static class McpLoad
{
    private const string Revision = "2025-11-25";

    public static async Task<int> RunAsync(string url, int clients, int calls, string? apiKey)
    {
        var sessions = new Session[clients];
        for (int i = 0; i < clients; i++)
        {
            sessions[i] = await Session.OpenAsync(new Uri(url), apiKey);
        }

        foreach (Session s in sessions)
        {
            for (int i = 0; i < 20; i++)
            {
                await s.EchoAsync("warm " + i);
            }
        }

        var latencies = new double[clients * calls];
        long start = Stopwatch.GetTimestamp();
        await Task.WhenAll(sessions.Select((s, c) => Task.Run(async () =>
        {
            for (int i = 0; i < calls; i++)
            {
                long t = Stopwatch.GetTimestamp();
                await s.EchoAsync("bench " + i);
                latencies[c * calls + i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            }
        })));
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        Array.Sort(latencies);
        double Pct(double p) => latencies[Math.Min(latencies.Length - 1, (int)(latencies.Length * p))];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{{\"p50\":{Pct(0.5):F3},\"p99\":{Pct(0.99):F3},\"rps\":{latencies.Length / seconds:F1},\"n\":{latencies.Length}}}"));
        foreach (Session s in sessions)
        {
            await s.CloseAsync();
        }

        return 0;
    }

    private sealed class Session
    {
        private readonly HttpClient _http;
        private readonly Uri _url;
        private string? _sessionId;
        private string _tool = "echo";
        private int _id;

        private Session(Uri url, string? apiKey)
        {
            _url = url;
            _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1, UseProxy = false })
            {
                Timeout = TimeSpan.FromSeconds(60),
            };
            _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            _http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            if (apiKey is not null)
            {
                _http.DefaultRequestHeaders.Add("X-API-Key", apiKey);
            }
        }

        public static async Task<Session> OpenAsync(Uri url, string? apiKey)
        {
            var s = new Session(url, apiKey);
            string init = await s.PostAsync(
                "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"" + Revision + "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"kheish-bench\",\"version\":\"1.0.0\"}}}",
                expectAnswer: true);
            if (!init.Contains("\"result\"", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("initialize failed: " + init);
            }

            await s.PostAsync("""{"jsonrpc":"2.0","method":"notifications/initialized"}""", expectAnswer: false);
            string list = await s.PostAsync($$"""{"jsonrpc":"2.0","id":{{++s._id}},"method":"tools/list"}""", expectAnswer: true);
            using JsonDocument doc = JsonDocument.Parse(DataOf(list));
            s._tool = doc.RootElement.GetProperty("result").GetProperty("tools").EnumerateArray()
                .Select(t => t.GetProperty("name").GetString()!)
                .First(n => n == "echo" || n.EndsWith("__echo", StringComparison.Ordinal));
            return s;
        }

        public async Task EchoAsync(string message)
        {
            string answer = await PostAsync(
                "{\"jsonrpc\":\"2.0\",\"id\":" + (++_id).ToString(CultureInfo.InvariantCulture) + ",\"method\":\"tools/call\",\"params\":{\"name\":\"" + _tool + "\",\"arguments\":{\"message\":\"" + message + "\"}}}",
                expectAnswer: true);
            if (!answer.Contains(message, StringComparison.Ordinal) || !answer.Contains("\"result\"", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("bad answer: " + answer);
            }
        }

        public async Task CloseAsync()
        {
            if (_sessionId is not null)
            {
                using var request = new HttpRequestMessage(HttpMethod.Delete, _url);
                request.Headers.Add("Mcp-Session-Id", _sessionId);
                using HttpResponseMessage _ = await _http.SendAsync(request);
            }

            _http.Dispose();
        }

        private async Task<string> PostAsync(string json, bool expectAnswer)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, _url)
            {
                Content = new StringContent(json, Encoding.UTF8, "application/json"),
            };
            if (_sessionId is not null)
            {
                request.Headers.Add("Mcp-Session-Id", _sessionId);
            }

            request.Headers.Add("MCP-Protocol-Version", Revision);
            using HttpResponseMessage response = await _http.SendAsync(request);
            string body = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"{(int)response.StatusCode} from {_url}: {body}");
            }

            if (response.Headers.TryGetValues("Mcp-Session-Id", out IEnumerable<string>? ids))
            {
                _sessionId ??= ids.First();
            }

            if (expectAnswer && body.Length == 0)
            {
                throw new InvalidOperationException("empty answer from " + _url);
            }

            return body;
        }

        /// <summary>The JSON of an answer that came as one JSON body or as an SSE stream's data line.</summary>
        private static string DataOf(string body)
        {
            if (body.TrimStart().StartsWith('{'))
            {
                return body;
            }

            foreach (string line in body.Split('\n'))
            {
                if (line.StartsWith("data:", StringComparison.Ordinal) && line.Contains("\"result\"", StringComparison.Ordinal))
                {
                    return line["data:".Length..].Trim();
                }
            }

            throw new InvalidOperationException("no JSON-RPC answer in: " + body);
        }
    }
}
