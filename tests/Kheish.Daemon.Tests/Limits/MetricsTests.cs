using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kheish.Daemon.Tests.Egress;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Limits;

/// <summary>
/// <c>GET /metrics</c> on the real binary, parsed by the <c>parse-prometheus-text-format</c> npm
/// package (prom2json-compatible, a port of the Python client's parser) and by a strict check of
/// the text format written here; its counters must match the calls made.
/// </summary>
public sealed partial class MetricsTests
{
    private const string ParseScript = """
        const parse = require('parse-prometheus-text-format');
        let text = '';
        process.stdin.on('data', d => text += d);
        process.stdin.on('end', () => { console.log(JSON.stringify(parse(text))); });
        """;

    [GeneratedRegex("""^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\\\|\\"|\\n|[^"\\\n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="(\\\\|\\"|\\n|[^"\\\n])*")*\})? (-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex("^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$")]
    private static partial Regex CommentLine();

    [Test]
    public async Task Metrics_parse_as_prometheus_text_and_count_the_calls_made()
    {
        if (NodePeers.Modules("parse-prometheus-text-format") is not { } modules)
        {
            Skip.Test("the parse-prometheus-text-format npm package is not installed (run scripts/test-deps.sh)");
            return;
        }

        string readOnly = "ro-" + Guid.NewGuid().ToString("N");
        await using EgressHarness h = await EgressHarness.StartAsync(keyArgs: ["--rate-limit", "3"], serveArgs: ["--http-readonly-token", readOnly]);
        h.Upstream.Handler = KeyLimitsTests.AnswerWithUsageAsync;
        using (HttpClient agent = h.Agent())
        {
            for (int i = 0; i < 3; i++)
            {
                HttpResponseMessage ok = await agent.PostAsync("/agent/v1/routes/openai/chat/completions",
                    new StringContent("""{"messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json"));
                await Assert.That(ok.StatusCode).IsEqualTo(HttpStatusCode.OK);
            }

            // The bucket refills one token every 20 s: the fourth call right after is refused.
            HttpResponseMessage limited = await agent.GetAsync("/agent/v1/routes/openai/models");
            await Assert.That(limited.StatusCode).IsEqualTo(HttpStatusCode.TooManyRequests);
            await Assert.That((await agent.GetAsync("/metrics")).StatusCode).IsEqualTo(HttpStatusCode.Unauthorized);
        }

        using HttpClient reader = h.Daemon.Client(readOnly);
        HttpResponseMessage response = await reader.GetAsync("/metrics");
        await Assert.That(response.StatusCode).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(response.Content.Headers.ContentType!.ToString()).StartsWith("text/plain; version=0.0.4");
        string text = await response.Content.ReadAsStringAsync();
        await AssertStrictTextFormatAsync(text);

        string json = await NodePeers.RunAsync(h.Dir.File("parse.cjs"), ParseScript, modules, [], stdin: text);
        using JsonDocument doc = JsonDocument.Parse(json);
        Dictionary<string, JsonElement> families = doc.RootElement.EnumerateArray().ToDictionary(f => f.GetProperty("name").GetString()!, f => f);

        await Assert.That(Value(families["kheish_agent_requests_total"], ("plane", "egress"), ("route", "openai"), ("key", h.KeyId), ("status", "200"))).IsEqualTo(3);
        await Assert.That(Value(families["kheish_agent_requests_total"], ("plane", "egress"), ("route", "openai"), ("key", h.KeyId), ("status", "429"))).IsEqualTo(1);
        await Assert.That(Value(families["kheish_key_limited_total"], ("key", h.KeyId), ("code", "rate_limited_key"))).IsEqualTo(1);
        await Assert.That(Value(families["kheish_key_tokens_total"], ("key", h.KeyId), ("route", "openai"), ("direction", "input"))).IsEqualTo(30);
        await Assert.That(Value(families["kheish_key_tokens_total"], ("key", h.KeyId), ("route", "openai"), ("direction", "output"))).IsEqualTo(30);

        // The npm parser flattens a histogram family to one series (it drops labels), so the
        // labelled latency histogram is read from the text checked strictly above.
        await Assert.That(families["kheish_agent_request_duration_seconds"].GetProperty("type").GetString()).IsEqualTo("HISTOGRAM");
        await Assert.That(text).Contains("\nkheish_agent_request_duration_seconds_count{plane=\"egress\",route=\"openai\"} 4\n");
        await Assert.That(text).Contains("\nkheish_agent_request_duration_seconds_bucket{plane=\"egress\",route=\"openai\",le=\"+Inf\"} 4\n");
        JsonElement appends = families["kheish_ledger_append_duration_seconds"].GetProperty("metrics")[0];
        await Assert.That(double.Parse(appends.GetProperty("count").GetString()!, System.Globalization.CultureInfo.InvariantCulture)).IsEqualTo(3);
        await Assert.That(families.ContainsKey("kheish_ledger_batch_records")).IsTrue();
        await Assert.That(families.ContainsKey("kheish_broker_leases")).IsTrue();
        await Assert.That(families.ContainsKey("kheish_account_refresh_total")).IsTrue();
        Canary.AssertAbsent(h.ProviderKey, text, "/metrics");
        Canary.AssertAbsent(h.ApiKey, text, "/metrics");
    }

    private static JsonElement Series(JsonElement family, params (string Name, string Value)[] labels) =>
        family.GetProperty("metrics").EnumerateArray().Single(m =>
            m.TryGetProperty("labels", out JsonElement l) && labels.All(x => l.TryGetProperty(x.Name, out JsonElement v) && v.GetString() == x.Value));

    private static double Value(JsonElement family, params (string Name, string Value)[] labels) =>
        double.Parse(Series(family, labels).GetProperty("value").GetString()!, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// The text format's rules (exposition_formats.md): every line a comment or a sample; HELP and
    /// TYPE at most once per family and before its samples; samples grouped by family; histogram
    /// buckets cumulative, ending at le="+Inf" equal to _count.
    /// </summary>
    private static async Task AssertStrictTextFormatAsync(string text)
    {
        await Assert.That(text.EndsWith('\n')).IsTrue();
        var typed = new Dictionary<string, string>(StringComparer.Ordinal);
        var closed = new HashSet<string>(StringComparer.Ordinal);
        string? current = null;
        double lastBucket = -1;
        string? lastSeries = null;
        foreach (string line in text.TrimEnd('\n').Split('\n'))
        {
            if (line.StartsWith('#'))
            {
                Match c = CommentLine().Match(line);
                await Assert.That(c.Success).IsTrue().Because(line);
                string family = c.Groups[2].Value;
                if (family != current)
                {
                    if (current is not null)
                    {
                        closed.Add(current);
                    }

                    await Assert.That(closed.Contains(family)).IsFalse().Because("family seen again: " + family);
                    current = family;
                }

                if (c.Groups[1].Value == "TYPE")
                {
                    await Assert.That(typed.TryAdd(family, c.Groups[3].Value)).IsTrue().Because("TYPE twice: " + family);
                    await Assert.That(c.Groups[3].Value is "counter" or "gauge" or "histogram").IsTrue();
                }

                continue;
            }

            await Assert.That(SampleLine().IsMatch(line)).IsTrue().Because("not a sample line: " + line);
            string name = line[..line.IndexOfAny(['{', ' '])];
            string familyName = typed.TryGetValue(current ?? "", out string? type) && type == "histogram"
                ? Regex.Replace(name, "_(bucket|sum|count)$", "")
                : name;
            await Assert.That(familyName).IsEqualTo(current).Because("sample outside its family: " + line);
            if (name.EndsWith("_bucket", StringComparison.Ordinal) && type == "histogram")
            {
                string series = Regex.Replace(line[..line.LastIndexOf(' ')], ",?le=\"[^\"]*\"", "");
                double value = double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
                if (series == lastSeries)
                {
                    await Assert.That(value).IsGreaterThanOrEqualTo(lastBucket).Because("buckets must be cumulative: " + line);
                }

                lastSeries = series;
                lastBucket = value;
            }
        }
    }
}
