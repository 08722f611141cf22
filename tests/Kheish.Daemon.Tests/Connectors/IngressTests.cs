using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Connectors;

/// <summary>Ingress on its own plane: Slack v0 signatures, Telegram secret tokens, http bearer tokens; and the planes kept apart.</summary>
public sealed class IngressTests
{
    /// <summary>Signed as Slack documents: v0= hex(HMAC-SHA256(signing secret, "v0:" + timestamp + ":" + body)).</summary>
    private static Dictionary<string, string> SlackHeaders(string secret, string body, long? timestamp = null)
    {
        string ts = (timestamp ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds()).ToString(CultureInfo.InvariantCulture);
        byte[] mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"v0:{ts}:{body}"));
        return new() { ["X-Slack-Request-Timestamp"] = ts, ["X-Slack-Signature"] = "v0=" + Convert.ToHexStringLower(mac) };
    }

    private static string Code(JsonElement body) => body.ValueKind == JsonValueKind.Object && body.TryGetProperty("code", out JsonElement c) ? c.GetString()! : "";

    [Test]
    public async Task Slack_accepts_a_signed_event_and_refuses_tampered_wrong_secret_old_and_replayed_requests()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        string secret = Canary.New("slacksign");
        var put = await h.PutAsync("slack", "team", $"{{\"signing_secret\":{{\"value\":\"{secret}\"}}}}");
        await Assert.That(put.Status == HttpStatusCode.OK).IsTrue().Because(put.Text);
        const string path = "/v1/connectors/slack/team/ingress";
        string body = "{\"type\":\"event_callback\",\"event\":{\"type\":\"message\",\"text\":\"hi\"}}";

        Dictionary<string, string> signed = SlackHeaders(secret, body);
        var accepted = await h.SendAsync(HttpMethod.Post, path, body, headers: signed);
        var replay = await h.SendAsync(HttpMethod.Post, path, body, headers: signed);
        var tampered = await h.SendAsync(HttpMethod.Post, path, body.Replace("hi", "ho", StringComparison.Ordinal), headers: SlackHeaders(secret, body));
        var wrongSecret = await h.SendAsync(HttpMethod.Post, path, body, headers: SlackHeaders("not-the-secret", body));
        var old = await h.SendAsync(HttpMethod.Post, path, body, headers: SlackHeaders(secret, body, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 301));
        var unsigned = await h.SendAsync(HttpMethod.Post, path, body);
        string challengeBody = "{\"token\":\"x\",\"challenge\":\"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P\",\"type\":\"url_verification\"}";
        var challenge = await h.SendAsync(HttpMethod.Post, path, challengeBody, headers: SlackHeaders(secret, challengeBody));
        var events = await h.SendAsync(HttpMethod.Get, "/v1/runtime/connectors/slack/team/events", bearer: h.Admin);

        await Assert.That(accepted.Status == HttpStatusCode.OK).IsTrue().Because(accepted.Text);
        await Assert.That(accepted.Body.GetProperty("queued").GetBoolean()).IsTrue();
        await Assert.That(Code(replay.Body)).IsEqualTo("replayed_request");
        await Assert.That(Code(tampered.Body)).IsEqualTo("bad_signature");
        await Assert.That(Code(wrongSecret.Body)).IsEqualTo("bad_signature");
        await Assert.That(Code(old.Body)).IsEqualTo("stale_timestamp");
        await Assert.That(Code(unsigned.Body)).IsEqualTo("missing_signature");
        foreach (var refused in new[] { replay, tampered, wrongSecret, old, unsigned })
        {
            await Assert.That(refused.Status).IsEqualTo(HttpStatusCode.Unauthorized);
        }
        await Assert.That(challenge.Body.GetProperty("challenge").GetString()).IsEqualTo("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
        await Assert.That(events.Body.GetProperty("events").GetArrayLength()).IsEqualTo(1);
        JsonElement queued = events.Body.GetProperty("events")[0];
        await Assert.That(queued.GetProperty("body").GetString()).IsEqualTo(body);
        await Assert.That(queued.GetProperty("body_digest").GetString()).IsEqualTo(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body))));

        CliResult verify = await Support.Cli.RunAsync(["runs", "verify", "--all", "--state-root", h.Dir.StateRoot]);
        await Assert.That(verify.ExitCode == 0).IsTrue().Because(verify.ToString());
        string ledger = string.Concat(Directory.GetFiles(Path.Combine(h.Dir.StateRoot, "external-actions"), "*.jsonl").Select(File.ReadAllText));
        await Assert.That(ledger.Split("\"kind\":\"connector_ingress\"").Length - 1).IsEqualTo(2);
        await h.StopAndAssertNoLeakAsync(secret);
    }

    [Test]
    public async Task Telegram_needs_its_secret_token_header()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        string secret = "tg" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        await Assert.That((await h.PutAsync("telegram", "tg", $"{{\"secret_token\":{{\"value\":\"{secret}\"}}}}")).Status).IsEqualTo(HttpStatusCode.OK);
        const string path = "/v1/connectors/telegram/tg/ingress";
        const string update = "{\"update_id\":1,\"message\":{\"text\":\"hi\"}}";

        var ok = await h.SendAsync(HttpMethod.Post, path, update, headers: new Dictionary<string, string> { ["X-Telegram-Bot-Api-Secret-Token"] = secret });
        var wrong = await h.SendAsync(HttpMethod.Post, path, update, headers: new Dictionary<string, string> { ["X-Telegram-Bot-Api-Secret-Token"] = secret + "x" });
        var missing = await h.SendAsync(HttpMethod.Post, path, update);

        await Assert.That(ok.Status == HttpStatusCode.OK).IsTrue().Because(ok.Text);
        await Assert.That(Code(wrong.Body)).IsEqualTo("bad_secret_token");
        await Assert.That(Code(missing.Body)).IsEqualTo("missing_credentials");
        await h.StopAndAssertNoLeakAsync(secret);
    }

    [Test]
    public async Task Http_ingress_takes_only_its_own_bearer_token_and_that_token_opens_nothing_else()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        var created = await h.PutAsync("http", "hooks", "{}");
        string token = created.Body.GetProperty("bearer_token").GetString()!;
        var again = await h.PutAsync("http", "hooks", "{}");
        var read = await h.SendAsync(HttpMethod.Get, "/v1/runtime/connectors/http/hooks", bearer: h.Admin);
        CliResult key = await Support.Cli.RunAsync(["security", "generate-key", "--project-root", h.Dir.File("project"), "--principal", "agent", "-o", "json"],
            new Dictionary<string, string?> { ["XDG_CONFIG_HOME"] = h.Dir.File("xdg") });
        const string path = "/v1/connectors/http/hooks/ingress";

        var ok = await h.SendAsync(HttpMethod.Post, path, "{\"n\":1}", bearer: token);
        var admin = await h.SendAsync(HttpMethod.Post, path, "{\"n\":2}", bearer: h.Admin);
        var none = await h.SendAsync(HttpMethod.Post, path, "{\"n\":3}");
        var controlWithConnectorToken = await h.SendAsync(HttpMethod.Get, "/v1/runtime/connectors", bearer: token);
        var unknown = await h.SendAsync(HttpMethod.Post, "/v1/connectors/http/nope/ingress", "{}", bearer: token);

        await Assert.That(token.Length).IsEqualTo(43 + 4);
        await Assert.That(again.Body.TryGetProperty("bearer_token", out _)).IsFalse().Because("the token is shown only when minted");
        await Assert.That(read.Body.GetProperty("bearer_token_configured").GetBoolean()).IsTrue();
        await Assert.That(read.Text + again.Text).DoesNotContain(token);
        await Assert.That(ok.Status == HttpStatusCode.OK).IsTrue().Because(ok.Text);
        await Assert.That(Code(admin.Body)).IsEqualTo("bad_bearer_token");
        await Assert.That(Code(none.Body)).IsEqualTo("missing_credentials");
        await Assert.That(controlWithConnectorToken.Status).IsEqualTo(HttpStatusCode.Unauthorized);
        await Assert.That(Code(unknown.Body)).IsEqualTo("unknown_connector");
        await Assert.That(unknown.Status).IsEqualTo(HttpStatusCode.NotFound);
        if (key.ExitCode == 0 && JsonDocument.Parse(key.Stdout).RootElement.TryGetProperty("key", out JsonElement agentKey))
        {
            var agent = await h.SendAsync(HttpMethod.Post, path, "{}", headers: new Dictionary<string, string> { ["X-API-Key"] = agentKey.GetString()!, ["Authorization"] = "Bearer " + agentKey.GetString() });
            var whoami = await h.SendAsync(HttpMethod.Get, "/agent/v1/whoami", headers: new Dictionary<string, string> { ["X-API-Key"] = agentKey.GetString()! });
            var agentPlaneWithConnectorToken = await h.SendAsync(HttpMethod.Get, "/agent/v1/whoami", headers: new Dictionary<string, string> { ["X-API-Key"] = token });
            await Assert.That(Code(agent.Body)).IsEqualTo("bad_bearer_token");
            await Assert.That(whoami.Status == HttpStatusCode.OK).IsTrue().Because(whoami.Text);
            await Assert.That(agentPlaneWithConnectorToken.Status).IsEqualTo(HttpStatusCode.Unauthorized);
        }
        else
        {
            Assert.Fail("could not create an agent key: " + key);
        }

        await h.Daemon.StopAsync();
        Canary.AssertAbsent(token, h.Daemon.Logs, "daemon logs");
        Canary.AssertAbsentFromFiles(token, h.Dir);
    }

    [Test]
    public async Task Repeated_failures_are_rate_limited_per_connector_before_any_check()
    {
        await using ConnectorHarness h = await ConnectorHarness.StartAsync();
        string token = (await h.PutAsync("http", "limited", "{}")).Body.GetProperty("bearer_token").GetString()!;
        await Assert.That((await h.PutAsync("http", "other", "{}")).Status).IsEqualTo(HttpStatusCode.OK);

        for (int i = 0; i < 30; i++)
        {
            await Assert.That((await h.SendAsync(HttpMethod.Post, "/v1/connectors/http/limited/ingress", "{}", bearer: "wrong")).Status).IsEqualTo(HttpStatusCode.Unauthorized);
        }

        var limited = await h.SendAsync(HttpMethod.Post, "/v1/connectors/http/limited/ingress", "{}", bearer: token);
        var big = await h.SendAsync(HttpMethod.Post, "/v1/connectors/http/other/ingress", new string('x', 300 * 1024));

        await Assert.That(limited.Status).IsEqualTo(HttpStatusCode.TooManyRequests);
        await Assert.That(Code(limited.Body)).IsEqualTo("too_many_failures");
        await Assert.That(big.Status).IsEqualTo(HttpStatusCode.RequestEntityTooLarge);
    }
}
