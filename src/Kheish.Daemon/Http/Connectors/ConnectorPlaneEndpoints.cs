using Kheish.Core.Connectors;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Http;

/// <summary>
/// The connector plane (<c>/v1/connectors/...</c>): ingress, authenticated by each connector's
/// own scheme, and the sidecar endpoints, authenticated by the connector lease. Neither
/// control-plane tokens nor agent API keys mean anything here (DaemonHost keeps both planes'
/// middleware off these paths, and nothing here looks at them).
/// </summary>
internal static class ConnectorPlaneEndpoints
{
    public static void MapConnectorPlaneEndpoints(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("/v1/connectors").ExcludeFromDescription();

        group.MapPost("/{kind}/{name}/ingress", async Task<IResult> (string kind, string name, HttpRequest request, DaemonContext daemon) =>
        {
            if (daemon.Connectors is not { } connectors)
            {
                return NotRunning();
            }

            Result<byte[]> body = await ReadBoundedAsync(request, ConnectorRuntime.MaxIngressBodyBytes);
            if (!body.TryGetValue(out byte[]? bytes, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            var ingress = new IngressRequest(
                request.Headers.Authorization.ToString() is { Length: > 0 } a ? a : null,
                Header(request, IngressVerifier.SlackSignatureHeader),
                Header(request, IngressVerifier.SlackTimestampHeader),
                Header(request, IngressVerifier.TelegramSecretHeader),
                request.ContentType,
                bytes);
            Result<IngressOutcome> outcome = await connectors.IngressAsync(kind, name, ingress, request.HttpContext.RequestAborted);
            if (!outcome.TryGetValue(out IngressOutcome? accepted, out error))
            {
                return ProblemResults.Result(error);
            }

            return accepted.Challenge is { } challenge
                ? TypedResults.Json(new SlackChallengeResponse(challenge), ConnectorsWireJsonContext.Default.SlackChallengeResponse)
                : TypedResults.Json(accepted.Accepted, ConnectorsWireJsonContext.Default.IngressAcceptedResponse);
        });

        group.MapGet("/external/{name}/credentials/{envKey}", async Task<IResult> (string name, string envKey, HttpRequest request, DaemonContext daemon) =>
        {
            if (daemon.Connectors is not { } connectors)
            {
                return NotRunning();
            }

            Result<CredentialResponse> fetched = await connectors.FetchCredentialAsync(name, envKey, Authorization(request), request.HttpContext.RequestAborted);
            request.HttpContext.Response.Headers.CacheControl = "no-store";
            return fetched.TryGetValue(out CredentialResponse? value, out KheishError? error)
                ? TypedResults.Json(value, ConnectorsWireJsonContext.Default.CredentialResponse)
                : ProblemResults.Result(error);
        });

        group.MapPost("/external/{name}/lease/renew", IResult (string name, HttpRequest request, DaemonContext daemon) =>
        {
            if (daemon.Connectors is not { } connectors)
            {
                return NotRunning();
            }

            request.HttpContext.Response.Headers.CacheControl = "no-store";
            return connectors.RenewLease(name, Authorization(request)).TryGetValue(out LeaseRenewResponse? lease, out KheishError? error)
                ? TypedResults.Json(lease, ConnectorsWireJsonContext.Default.LeaseRenewResponse)
                : ProblemResults.Result(error);
        });

        group.MapGet("/external/{name}/events", async Task<IResult> (string name, int? waitSeconds, HttpRequest request, DaemonContext daemon) =>
        {
            if (daemon.Connectors is not { } connectors)
            {
                return NotRunning();
            }

            TimeSpan wait = TimeSpan.FromSeconds(Math.Clamp(waitSeconds ?? 25, 0, 60));
            Result<ConnectorEventsResponse> events;
            try
            {
                events = await connectors.TakeEventsAsync(name, Authorization(request), wait, request.HttpContext.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return TypedResults.Empty;
            }

            return events.TryGetValue(out ConnectorEventsResponse? taken, out KheishError? error)
                ? TypedResults.Json(taken, ConnectorsWireJsonContext.Default.ConnectorEventsResponse)
                : ProblemResults.Result(error);
        });

        group.MapPost("/external/{name}/deliver", async Task<IResult> (string name, HttpRequest request, DaemonContext daemon) =>
        {
            if (daemon.Connectors is not { } connectors)
            {
                return NotRunning();
            }

            Result<DeliverRequest> body = await RequestBody.ReadAsync(request, ConnectorsWireJsonContext.Default.DeliverRequest);
            if (!body.TryGetValue(out DeliverRequest? deliver, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            Result<DeliveryResult> delivered = await connectors.DeliverAsync(name, Authorization(request), deliver, request.HttpContext.RequestAborted);
            return delivered.TryGetValue(out DeliveryResult? answer, out error)
                ? TypedResults.Text(System.Text.Encoding.UTF8.GetString(answer.Body), answer.ContentType ?? "application/json", System.Text.Encoding.UTF8, answer.Status)
                : ProblemResults.Result(error);
        });
    }

    private static string? Authorization(HttpRequest request) =>
        request.Headers.Authorization.ToString() is { Length: > 0 } a ? a : null;

    private static string? Header(HttpRequest request, string name) =>
        request.Headers.TryGetValue(name, out var values) && values.Count == 1 ? values[0] : null;

    private static async Task<Result<byte[]>> ReadBoundedAsync(HttpRequest request, int max)
    {
        if (request.ContentLength > max)
        {
            return TooLarge(max);
        }

        using var buffer = new MemoryStream();
        byte[] chunk = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
            {
                if (buffer.Length + read > max)
                {
                    return TooLarge(max);
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(max);
        }

        return buffer.ToArray();
    }

    private static KheishError TooLarge(int max) =>
        new("payload_too_large", ErrorKind.PayloadTooLarge, $"an ingress body is at most {max} bytes");

    private static IResult NotRunning() =>
        ProblemResults.Result(KheishError.Unavailable("connectors_unavailable", "connectors are not available in this daemon"));
}
