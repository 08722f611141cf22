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

    [Fact]
    public void Slacks_documented_example_verifies()
    {
        Result<long> checkedTs = IngressVerifier.CheckSlack(SlackSignature, SlackTimestamp, Encoding.UTF8.GetBytes(SlackBody), SlackSecret, JustAfter);

        Assert.True(checkedTs.IsOk, checkedTs.IsOk ? "" : checkedTs.Error.Message);
        Assert.Equal(1531420618, checkedTs.Value);
    }

    [Theory]
    [InlineData("x", SlackSecret, SlackSignature, 10, "bad_signature")]
    [InlineData("", "other-secret", SlackSignature, 10, "bad_signature")]
    [InlineData("", SlackSecret, "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b504", 10, "bad_signature")]
    [InlineData("", SlackSecret, "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", 10, "bad_signature")]
    [InlineData("", SlackSecret, "v0=zz", 10, "bad_signature")]
    [InlineData("", SlackSecret, SlackSignature, 301, "stale_timestamp")]
    [InlineData("", SlackSecret, SlackSignature, -301, "stale_timestamp")]
    public void Tampered_wrong_or_old_slack_requests_are_refused(string bodySuffix, string secret, string signature, int skewSeconds, string code)
    {
        DateTimeOffset now = DateTimeOffset.FromUnixTimeSeconds(1531420618 + skewSeconds);

        Result<long> checkedTs = IngressVerifier.CheckSlack(signature, SlackTimestamp, Encoding.UTF8.GetBytes(SlackBody + bodySuffix), secret, now);

        Assert.False(checkedTs.IsOk);
        Assert.Equal(code, checkedTs.Error!.Code);
        Assert.DoesNotContain(secret, checkedTs.Error!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_or_non_numeric_slack_headers_are_refused()
    {
        byte[] body = Encoding.UTF8.GetBytes(SlackBody);

        Assert.Equal("missing_signature", IngressVerifier.CheckSlack(null, SlackTimestamp, body, SlackSecret, JustAfter).Error!.Code);
        Assert.Equal("missing_signature", IngressVerifier.CheckSlack(SlackSignature, null, body, SlackSecret, JustAfter).Error!.Code);
        Assert.Equal("bad_timestamp", IngressVerifier.CheckSlack(SlackSignature, "-5", body, SlackSecret, JustAfter).Error!.Code);
    }

    [Fact]
    public void A_bearer_token_is_checked_against_its_digest_only()
    {
        string token = ConnectorDefinitions.NewBearerToken();
        string digest = ConnectorDefinitions.BearerDigestOf(token);

        Assert.Null(IngressVerifier.CheckBearer("Bearer " + token, digest));
        Assert.Equal("bad_bearer_token", IngressVerifier.CheckBearer("Bearer " + token + "x", digest)!.Code);
        Assert.Equal("missing_credentials", IngressVerifier.CheckBearer(token, digest)!.Code);
        Assert.Equal(64, digest.Length);
        Assert.NotEqual(ConnectorDefinitions.NewBearerToken(), token);
    }

    [Fact]
    public void A_telegram_secret_token_must_match_exactly()
    {
        Assert.Null(IngressVerifier.CheckTelegram("s3cret", "s3cret"));
        Assert.Equal("bad_secret_token", IngressVerifier.CheckTelegram("s3cret ", "s3cret")!.Code);
        Assert.Equal("missing_credentials", IngressVerifier.CheckTelegram(null, "s3cret")!.Code);
    }
}
