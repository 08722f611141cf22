using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Egress;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Connectors;

/// <summary>A Slack connector served by a sidecar: events reach the sidecar, deliveries carry the bot token only past the daemon.</summary>
public sealed class DeliveryTests
{
    private static Dictionary<string, string> SlackHeaders(string secret, string body)
    {
        string ts = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        byte[] mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"v0:{ts}:{body}"));
        return new() { ["X-Slack-Request-Timestamp"] = ts, ["X-Slack-Signature"] = "v0=" + Convert.ToHexStringLower(mac) };
    }

    [Test]
    public async Task Slack_events_reach_the_sidecar_and_its_deliveries_get_the_bot_token_it_never_sees()
    {
        await using var slackApi = new RecordingUpstream();
        // The stand-in echoes the Authorization header it got: the daemon must redact it on the way back.
        slackApi.Handler = async (request, response) =>
        {
            response.StatusCode = 200;
            response.ContentType = "application/json";
            await RecordingUpstream.WriteAsync(response, JsonSerializer.Serialize(new Dictionary<string, object> { ["ok"] = true, ["seen"] = request.Header("Authorization") ?? "" }));
        };
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        string signing = Canary.New("signing");
        string bot = "xoxb-" + Canary.New("bot");
        var slack = await h.PutAsync("slack", "team", JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["signing_secret"] = new Dictionary<string, string> { ["value"] = signing },
            ["bot_token"] = new Dictionary<string, string> { ["value"] = bot },
            ["api_base_url"] = slackApi.BaseUrl + "/api",
        }));
        await Assert.That(slack.Status == HttpStatusCode.OK).IsTrue().Because(slack.Text);
        string script = SidecarScript.Write(h.Dir.Path);
        var relay = await h.PutAsync("external", "relay", JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["command"] = ConnectorHarness.Python(),
            ["args"] = new[] { script, h.Dir.File("relay.json"), "relay" },
            ["ingress_from"] = "team",
        }));
        await Assert.That(relay.Status == HttpStatusCode.OK).IsTrue().Because(relay.Text);
        await ConnectorHarness.EventuallyAsync(() => Task.FromResult(File.Exists(h.Dir.File("relay.json"))), "the relay sidecar");
        JsonElement report = JsonDocument.Parse(File.ReadAllText(h.Dir.File("relay.json"))).RootElement;
        string lease = report.GetProperty("env").GetProperty("KHEISH_EXTERNAL_CONNECTOR_CREDENTIAL_TOKEN").GetString()!;

        string body = "{\"type\":\"event_callback\",\"event\":{\"type\":\"app_mention\",\"text\":\"deploy\"}}";
        var ingress = await h.SendAsync(HttpMethod.Post, "/v1/connectors/slack/team/ingress", body, headers: SlackHeaders(signing, body));
        await Assert.That(ingress.Status == HttpStatusCode.OK).IsTrue().Because(ingress.Text);
        await ConnectorHarness.EventuallyAsync(
            () => Task.FromResult(File.Exists(h.Dir.File("relay.json.events")) && File.ReadAllText(h.Dir.File("relay.json.events")).Contains("app_mention", StringComparison.Ordinal)),
            "the event to reach the sidecar");
        var deliver = await h.SendAsync(HttpMethod.Post, "/v1/connectors/external/relay/deliver",
            "{\"method\":\"chat.postMessage\",\"payload\":{\"channel\":\"C1\",\"text\":\"done\"}}", bearer: lease);
        var deliverWithAdmin = await h.SendAsync(HttpMethod.Post, "/v1/connectors/external/relay/deliver",
            "{\"method\":\"chat.postMessage\",\"payload\":{}}", bearer: h.Admin);

        await Assert.That(deliver.Status == HttpStatusCode.OK).IsTrue().Because(deliver.Text);
        UpstreamRequest sent = (await Assert.That(slackApi.Received).HasSingleItem())!;
        await Assert.That(sent.PathAndQuery).IsEqualTo("/api/chat.postMessage");
        await Assert.That(sent.Header("Authorization")).IsEqualTo("Bearer " + bot);
        await Assert.That(sent.BodyText).IsEqualTo("{\"channel\":\"C1\",\"text\":\"done\"}");
        await Assert.That(deliver.Body.GetProperty("seen").GetString()).IsEqualTo("Bearer [redacted]");
        await Assert.That(deliverWithAdmin.Body.GetProperty("code").GetString()).IsEqualTo("lease_unknown");
        string sidecarSaw = File.ReadAllText(h.Dir.File("relay.json")) + File.ReadAllText(h.Dir.File("relay.json.events"));
        Canary.AssertAbsent(bot, sidecarSaw, "the sidecar's environment and events");

        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot]);
        await Assert.That(verify.ExitCode == 0).IsTrue().Because(verify.ToString());
        string ledger = string.Concat(Directory.GetFiles(Path.Combine(h.Dir.StateRoot, "external-actions"), "*.jsonl").Select(File.ReadAllText));
        await Assert.That(ledger.Split("\"kind\":\"connector_delivery\"").Length - 1).IsEqualTo(2);
        await Assert.That(ledger).Contains("\"target\":\"slack/team:chat.postMessage\"");
        await h.StopAndAssertNoLeakAsync(bot, signing, h.DaemonEnvCanary);
    }
}
