using System.Text;
using Kheish.Core.Connectors;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Connectors;

public sealed class IngressVerifierTests
{
    // The worked example of Slack's "Verifying requests from Slack" page.
    private const string SlackSecret = "8f742231b10e8888abcd99yyyzzz85a5";
    private const string SlackTimestamp = "1531420618";
    private const string SlackSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    private const string SlackBody =
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar" +
        "&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com" +
        "%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

    private static readonly DateTimeOffset JustAfter = DateTimeOffset.FromUnixTimeSeconds(1531420618 + 10);

    [Test]
    public async Task Slacks_documented_example_verifies()
    {
        Result<long> checkedTs = IngressVerifier.CheckSlack(SlackSignature, SlackTimestamp, Encoding.UTF8.GetBytes(SlackBody), SlackSecret, JustAfter);

        await Assert.That(checkedTs.IsOk).IsTrue().Because(checkedTs.IsOk ? "" : checkedTs.Error.Message);
        await Assert.That(checkedTs.Value).IsEqualTo(1531420618);
    }

    [Test]
    [Arguments("x", SlackSecret, SlackSignature, 10, "bad_signature")]
    [Arguments("", "other-secret", SlackSignature, 10, "bad_signature")]
    [Arguments("", SlackSecret, "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b504", 10, "bad_signature")]
    [Arguments("", SlackSecret, "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", 10, "bad_signature")]
    [Arguments("", SlackSecret, "v0=zz", 10, "bad_signature")]
    [Arguments("", SlackSecret, SlackSignature, 301, "stale_timestamp")]
    [Arguments("", SlackSecret, SlackSignature, -301, "stale_timestamp")]
    public async Task Tampered_wrong_or_old_slack_requests_are_refused(string bodySuffix, string secret, string signature, int skewSeconds, string code)
    {
        DateTimeOffset now = DateTimeOffset.FromUnixTimeSeconds(1531420618 + skewSeconds);

        Result<long> checkedTs = IngressVerifier.CheckSlack(signature, SlackTimestamp, Encoding.UTF8.GetBytes(SlackBody + bodySuffix), secret, now);

        await Assert.That(checkedTs.IsOk).IsFalse();
        await Assert.That(checkedTs.Error!.Code).IsEqualTo(code);
        await Assert.That(checkedTs.Error!.Message).DoesNotContain(secret);
    }

    [Test]
    public async Task Missing_or_non_numeric_slack_headers_are_refused()
    {
        byte[] body = Encoding.UTF8.GetBytes(SlackBody);

        await Assert.That(IngressVerifier.CheckSlack(null, SlackTimestamp, body, SlackSecret, JustAfter).Error!.Code).IsEqualTo("missing_signature");
        await Assert.That(IngressVerifier.CheckSlack(SlackSignature, null, body, SlackSecret, JustAfter).Error!.Code).IsEqualTo("missing_signature");
        await Assert.That(IngressVerifier.CheckSlack(SlackSignature, "-5", body, SlackSecret, JustAfter).Error!.Code).IsEqualTo("bad_timestamp");
    }

    [Test]
    public async Task A_bearer_token_is_checked_against_its_digest_only()
    {
        string token = ConnectorDefinitions.NewBearerToken();
        string digest = ConnectorDefinitions.BearerDigestOf(token);

        await Assert.That(IngressVerifier.CheckBearer("Bearer " + token, digest)).IsNull();
        await Assert.That(IngressVerifier.CheckBearer("Bearer " + token + "x", digest)!.Code).IsEqualTo("bad_bearer_token");
        await Assert.That(IngressVerifier.CheckBearer(token, digest)!.Code).IsEqualTo("missing_credentials");
        await Assert.That(digest.Length).IsEqualTo(64);
        await Assert.That(token).IsNotEqualTo(ConnectorDefinitions.NewBearerToken());
    }

    [Test]
    public async Task A_telegram_secret_token_must_match_exactly()
    {
        await Assert.That(IngressVerifier.CheckTelegram("s3cret", "s3cret")).IsNull();
        await Assert.That(IngressVerifier.CheckTelegram("s3cret ", "s3cret")!.Code).IsEqualTo("bad_secret_token");
        await Assert.That(IngressVerifier.CheckTelegram(null, "s3cret")!.Code).IsEqualTo("missing_credentials");
    }
}
