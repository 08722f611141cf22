using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Kheish.Core.Errors;

namespace Kheish.Core.Connectors;

/// <summary>
/// Each ingress connector's own authentication, never the control plane's or the agent plane's:
/// a per-connector bearer token (http), Slack's v0 request signature, Telegram's secret token.
/// Every comparison is constant-time; refusals carry a stable code and name no secret.
/// </summary>
internal static class IngressVerifier
{
    public const string SlackSignatureHeader = "X-Slack-Signature";
    public const string SlackTimestampHeader = "X-Slack-Request-Timestamp";
    public const string TelegramSecretHeader = "X-Telegram-Bot-Api-Secret-Token";

    /// <summary>Slack's documented window: requests older (or newer) than five minutes are refused.</summary>
    public static readonly TimeSpan SlackWindow = TimeSpan.FromMinutes(5);

    public static KheishError? CheckBearer(string? authorization, string expectedDigest)
    {
        if (authorization is null || !authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return KheishError.Unauthorized("missing_credentials", "this connector's ingress needs `Authorization: Bearer <connector token>`");
        }

        byte[] given = SHA256.HashData(Encoding.UTF8.GetBytes(authorization["Bearer ".Length..].Trim()));
        byte[] expected = Convert.FromHexString(expectedDigest);
        return CryptographicOperations.FixedTimeEquals(given, expected)
            ? null
            : KheishError.Unauthorized("bad_bearer_token", "the bearer token is not this connector's ingress token");
    }

    public static KheishError? CheckTelegram(string? header, string secretToken)
    {
        if (header is null)
        {
            return KheishError.Unauthorized("missing_credentials", $"a Telegram webhook call needs the {TelegramSecretHeader} header");
        }

        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(header)), SHA256.HashData(Encoding.UTF8.GetBytes(secretToken)))
            ? null
            : KheishError.Unauthorized("bad_secret_token", $"the {TelegramSecretHeader} header does not match this connector's secret token");
    }

    /// <summary>
    /// Slack's v0 scheme: <c>X-Slack-Signature = "v0=" + hex(HMAC-SHA256(signing secret,
    /// "v0:" + X-Slack-Request-Timestamp + ":" + raw body))</c>, timestamp within five minutes.
    /// Returns the timestamp on success (the replay cache keys on it).
    /// </summary>
    public static Result<long> CheckSlack(string? signature, string? timestamp, ReadOnlySpan<byte> body, string signingSecret, DateTimeOffset now)
    {
        if (signature is null || timestamp is null)
        {
            return KheishError.Unauthorized("missing_signature", $"a Slack request needs the {SlackSignatureHeader} and {SlackTimestampHeader} headers");
        }

        if (!long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out long ts) || timestamp.Length > 12)
        {
            return KheishError.Unauthorized("bad_timestamp", $"{SlackTimestampHeader} must be Unix seconds");
        }

        if (Math.Abs(now.ToUnixTimeSeconds() - ts) > (long)SlackWindow.TotalSeconds)
        {
            return KheishError.Unauthorized("stale_timestamp", $"{SlackTimestampHeader} is more than 5 minutes from the daemon's clock; replays are refused");
        }

        if (!signature.StartsWith("v0=", StringComparison.Ordinal) || signature.Length != 3 + 64)
        {
            return KheishError.Unauthorized("bad_signature", $"{SlackSignatureHeader} must be v0= followed by 64 hex digits");
        }

        byte[] given;
        try
        {
            given = Convert.FromHexString(signature.AsSpan(3));
        }
        catch (FormatException)
        {
            return KheishError.Unauthorized("bad_signature", $"{SlackSignatureHeader} must be v0= followed by 64 hex digits");
        }

        byte[] expected = SlackSignature(signingSecret, timestamp, body);
        return CryptographicOperations.FixedTimeEquals(given, expected)
            ? ts
            : KheishError.Unauthorized("bad_signature", "the Slack request signature does not match the body and this connector's signing secret");
    }

    public static byte[] SlackSignature(string signingSecret, string timestamp, ReadOnlySpan<byte> body)
    {
        byte[] prefix = Encoding.UTF8.GetBytes("v0:" + timestamp + ":");
        byte[] message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return HMACSHA256.HashData(Encoding.UTF8.GetBytes(signingSecret), message);
    }
}
