using System.Security.Cryptography;
using System.Text.Json;
using Kheish.Core.Audit;
using Kheish.Core.Broker;
using Kheish.Core.Errors;

namespace Kheish.Core.Connectors;

/// <summary>The headers and raw body of one ingress request, as the connector plane received them.</summary>
internal sealed record IngressRequest(
    string? Authorization,
    string? SlackSignature,
    string? SlackTimestamp,
    string? TelegramSecret,
    string? ContentType,
    byte[] Body);

/// <summary>A verified ingress request: the event accepted, or Slack's url_verification challenge to echo.</summary>
internal sealed record IngressOutcome(IngressAcceptedResponse Accepted, string? Challenge);

/// <summary>A platform's answer to a delivery, with the bot token redacted from it.</summary>
internal sealed record DeliveryResult(int Status, string? ContentType, byte[] Body);

internal sealed partial class ConnectorRuntime
{
    private const int MaxSlackSeen = 100_000;
    private const int MaxDeliveryResponseBytes = 1024 * 1024;

    /// <summary>
    /// <c>POST /v1/connectors/{kind}/{name}/ingress</c>: refuses unknown or disabled connectors
    /// and connectors over their failure limit before looking at any credential, then verifies the
    /// connector's own scheme. A verified event is ledgered (body digest) before it is queued.
    /// </summary>
    public async Task<Result<IngressOutcome>> IngressAsync(string kindText, string name, IngressRequest request, CancellationToken ct)
    {
        if (ConnectorKinds.Parse(kindText) is not { } kind || kind == ConnectorKind.External
            || ConnectorName.CheckName(name) is not null || Store.Get(kind, name) is not { } definition)
        {
            return KheishError.NotFound("unknown_connector", $"no ingress connector `{ConnectorName.Printable(kindText)}/{ConnectorName.Printable(name)}`");
        }

        if (_failures.RetryAfterSeconds(definition.Key) is { } retry)
        {
            return new KheishError("too_many_failures", ErrorKind.RateLimited,
                $"connector `{definition.Key}` refused too many requests in the last minute; retry in {retry} s");
        }

        if (!definition.Enabled)
        {
            return KheishError.Forbidden("connector_disabled", $"connector `{definition.Key}` is disabled");
        }

        if (await VerifyAsync(definition, request).ConfigureAwait(false) is { } refused)
        {
            _failures.RecordFailure(definition.Key);
            return refused;
        }

        string digest = Digest(request.Body);
        var ev = new ExternalActionEvent(ActionPhase.Completed, IngressKind, definition.Key)
        {
            PrincipalId = "connector:" + definition.Name,
            RequestDigest = digest,
            Outcome = "verified",
        };
        Result<LedgerRecord> recorded = await _ledger.AppendAsync(ev, ct).ConfigureAwait(false);
        if (!recorded.TryGetValue(out LedgerRecord? record, out KheishError? auditError))
        {
            return auditError;
        }

        if (kind == ConnectorKind.Slack && SlackChallenge(request.Body) is { } challenge)
        {
            return new IngressOutcome(new IngressAcceptedResponse(true, record.ActionId, false), challenge);
        }

        var queued = new ConnectorEvent(
            record.ActionId, definition.Key, _clock.GetUtcNow().ToUnixTimeMilliseconds(), request.ContentType, Utf8(request.Body), digest);
        Queue(definition.Key).Add(queued);
        return new IngressOutcome(new IngressAcceptedResponse(true, record.ActionId, true), null);
    }

    private Task<KheishError?> VerifyAsync(ConnectorDefinition definition, IngressRequest request)
    {
        KheishError? error;
        switch (definition.Kind)
        {
            case ConnectorKind.Http:
                error = definition.BearerDigest is { } digest
                    ? IngressVerifier.CheckBearer(request.Authorization, digest)
                    : KheishError.Forbidden("connector_misconfigured", "this connector has no ingress token");
                break;
            case ConnectorKind.Telegram:
                error = !Resolve(definition.SecretToken!, "secret_token").TryGetValue(out string? token, out KheishError? unavailable)
                    ? unavailable
                    : IngressVerifier.CheckTelegram(request.TelegramSecret, token);
                break;
            case ConnectorKind.Slack:
                if (!Resolve(definition.SigningSecret!, "signing_secret").TryGetValue(out string? secret, out error))
                {
                    break;
                }

                Result<long> checkedTs = IngressVerifier.CheckSlack(request.SlackSignature, request.SlackTimestamp, request.Body, secret, _clock.GetUtcNow());
                error = checkedTs.IsOk ? RememberSlack(definition.Key, request.SlackSignature!, checkedTs.Value) : checkedTs.Error;
                break;
            default:
                error = KheishError.NotFound("unknown_connector", "an external connector has no ingress");
                break;
        }

        return Task.FromResult(error);
    }

    /// <summary>A signature seen within the window is a replay (Slack retries carry a fresh timestamp and signature).</summary>
    private KheishError? RememberSlack(string connector, string signature, long timestamp)
    {
        long oldest = _clock.GetUtcNow().ToUnixTimeSeconds() - (long)IngressVerifier.SlackWindow.TotalSeconds - 60;
        lock (_slackSeen)
        {
            if (_slackSeen.Count >= MaxSlackSeen)
            {
                foreach (string stale in _slackSeen.Where(p => p.Value < oldest).Select(p => p.Key).ToList())
                {
                    _slackSeen.Remove(stale);
                }
            }

            if (_slackSeen.Count >= MaxSlackSeen)
            {
                return new KheishError("too_many_failures", ErrorKind.RateLimited, "too many Slack requests within the replay window");
            }

            return _slackSeen.TryAdd(connector + " " + signature, timestamp)
                ? null
                : KheishError.Unauthorized("replayed_request", "this Slack request (same signature) was already accepted; replays are refused");
        }
    }

    private static string? SlackChallenge(byte[] body)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(body);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("type", out JsonElement type) && type.ValueKind == JsonValueKind.String
                && type.GetString() == "url_verification"
                && doc.RootElement.TryGetProperty("challenge", out JsonElement challenge) && challenge.ValueKind == JsonValueKind.String
                ? challenge.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // ---- delivery ----------------------------------------------------------------------

    /// <summary>
    /// <c>POST /v1/connectors/external/{name}/deliver</c>: the sidecar names a platform method and
    /// its JSON payload; the daemon injects the bot token of the <c>ingress_from</c> connector and
    /// forwards to its API base URL. Recorded as started (request digest) before the call and
    /// completed (response digest, status) after it. The token is redacted from the answer.
    /// </summary>
    public async Task<Result<DeliveryResult>> DeliverAsync(string name, string? authorization, DeliverRequest request, CancellationToken ct)
    {
        if (!CurrentLease(name, authorization).TryGetValue(out (ConnectorDefinition Definition, CredentialLease Lease) held, out KheishError? error))
        {
            return error;
        }

        if (!IngressSource(held.Definition).TryGetValue(out ConnectorDefinition? platform, out error))
        {
            return error;
        }

        if (platform.Kind is not (ConnectorKind.Slack or ConnectorKind.Telegram) || platform.BotToken is null)
        {
            return KheishError.Conflict("no_bot_token", $"connector `{platform.Key}` has no `bot_token` to deliver with");
        }

        if (string.IsNullOrEmpty(request.Method) || request.Method.Length > 64
            || !request.Method.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_'))
        {
            return KheishError.BadRequest("invalid_method", "`method` is 1 to 64 characters from [A-Za-z0-9._] (e.g. chat.postMessage, sendMessage)");
        }

        if (request.Payload.ValueKind != JsonValueKind.Object)
        {
            return KheishError.BadRequest("invalid_body", "`payload` must be a JSON object");
        }

        if (!Resolve(platform.BotToken, "bot_token").TryGetValue(out string? token, out error))
        {
            return error;
        }

        byte[] payload = JsonSerializer.SerializeToUtf8Bytes(request.Payload, ConnectorsWireJsonContext.Default.JsonElement);
        string baseUrl = platform.ApiBaseUrl ?? (platform.Kind == ConnectorKind.Slack ? "https://slack.com/api" : "https://api.telegram.org");
        var started = new ExternalActionEvent(ActionPhase.Started, DeliveryKind, $"{platform.Key}:{request.Method}")
        {
            PrincipalId = held.Lease.SubjectId,
            GrantId = held.Lease.GrantId,
            RequestDigest = Digest(payload),
        };
        if (!(await _ledger.AppendAsync(started, ct).ConfigureAwait(false)).TryGetValue(out _, out error))
        {
            return error;
        }

        using var message = new HttpRequestMessage(HttpMethod.Post, platform.Kind == ConnectorKind.Slack
            ? $"{baseUrl}/{request.Method}"
            : $"{baseUrl}/bot{token}/{request.Method}")
        {
            Content = new ByteArrayContent(payload) { Headers = { ContentType = new("application/json") { CharSet = "utf-8" } } },
        };
        if (platform.Kind == ConnectorKind.Slack)
        {
            message.Headers.Authorization = new("Bearer", token);
        }

        try
        {
            using HttpResponseMessage response = await _platform.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            byte[] body = await ReadBoundedAsync(response.Content, ct).ConfigureAwait(false);
            byte[] redacted = Redact(body, token);
            await _ledger.AppendAsync(started with
            {
                Phase = ActionPhase.Completed,
                ResponseDigest = Digest(body),
                Outcome = "http_" + ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture),
            }, CancellationToken.None).ConfigureAwait(false);
            return new DeliveryResult((int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, redacted);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
        {
            await _ledger.AppendAsync(started with { Phase = ActionPhase.Failed, Outcome = "platform_unreachable" }, CancellationToken.None).ConfigureAwait(false);
            return new KheishError("platform_unreachable", ErrorKind.Unreachable, $"the platform API of `{platform.Key}` did not answer ({ex.GetType().Name})");
        }
    }

    private static async Task<byte[]> ReadBoundedAsync(HttpContent content, CancellationToken ct)
    {
        await using Stream stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > MaxDeliveryResponseBytes)
            {
                throw new IOException("the platform's answer is larger than 1 MiB");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>Replaces every occurrence of the token in the platform's answer (URLs echoed in errors, for one).</summary>
    private static byte[] Redact(byte[] body, string token)
    {
        byte[] secret = System.Text.Encoding.UTF8.GetBytes(token);
        if (secret.Length == 0 || body.AsSpan().IndexOf(secret) < 0)
        {
            return body;
        }

        byte[] mask = "[redacted]"u8.ToArray();
        using var output = new MemoryStream(body.Length);
        ReadOnlySpan<byte> rest = body;
        int at;
        while ((at = rest.IndexOf(secret)) >= 0)
        {
            output.Write(rest[..at]);
            output.Write(mask);
            rest = rest[(at + secret.Length)..];
        }

        output.Write(rest);
        CryptographicOperations.ZeroMemory(secret);
        return output.ToArray();
    }
}
