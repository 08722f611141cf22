using Kheish.Core.Connectors;
using Kheish.Core.Errors;
using Kheish.Daemon.Http.ControlPlane;

namespace Kheish.Daemon.Http;

/// <summary>
/// Connector definitions over the control plane (<c>/v1/runtime/connectors</c>). Writes and the
/// event queue are admin only; list and get (metadata, never a value or digest) are read-only safe.
/// </summary>
internal static class ConnectorsEndpoints
{
    public static void MapConnectorsEndpoints(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("/v1/runtime/connectors");

        group.MapGet("/", IResult (DaemonContext daemon) =>
            daemon.Connectors is { } connectors
                ? TypedResults.Json(new ConnectorListResponse(connectors.List()), ConnectorsWireJsonContext.Default.ConnectorListResponse)
                : NotRunning()).AllowReadOnly();

        group.MapGet("/{kind}/{name}", IResult (string kind, string name, DaemonContext daemon) =>
            WithKind(kind, daemon, (k, c) => c.Get(k, name).TryGetValue(out ConnectorView? view, out KheishError? error)
                ? TypedResults.Json(view, ConnectorsWireJsonContext.Default.ConnectorView)
                : ProblemResults.Result(error))).AllowReadOnly();

        group.MapPut("/{kind}/{name}", async Task<IResult> (string kind, string name, HttpRequest request, DaemonContext daemon) =>
        {
            Result<ConnectorInput> body = await RequestBody.ReadAsync(request, ConnectorsWireJsonContext.Default.ConnectorInput);
            if (!body.TryGetValue(out ConnectorInput? input, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            return WithKind(kind, daemon, (k, c) => c.Put(k, name, input).TryGetValue(out ConnectorView? view, out KheishError? putError)
                ? TypedResults.Json(view, ConnectorsWireJsonContext.Default.ConnectorView)
                : ProblemResults.Result(putError));
        }).Accepts<ConnectorInput>("application/json");

        group.MapDelete("/{kind}/{name}", async Task<IResult> (string kind, string name, DaemonContext daemon) =>
        {
            if (ConnectorKinds.Parse(kind) is not { } k)
            {
                return ProblemResults.Result(BadKind(kind));
            }

            if (daemon.Connectors is not { } connectors)
            {
                return NotRunning();
            }

            Result<bool> deleted = await connectors.DeleteAsync(k, name);
            return deleted.IsOk
                ? TypedResults.Json(new ConnectorDeletedResponse(true), ConnectorsWireJsonContext.Default.ConnectorDeletedResponse)
                : ProblemResults.Result(deleted.Error);
        });

        group.MapGet("/{kind}/{name}/events", IResult (string kind, string name, bool? drain, DaemonContext daemon) =>
            WithKind(kind, daemon, (k, c) => c.PeekEvents(k, name, drain == true).TryGetValue(out ConnectorEventsResponse? events, out KheishError? error)
                ? TypedResults.Json(events, ConnectorsWireJsonContext.Default.ConnectorEventsResponse)
                : ProblemResults.Result(error)));
    }

    private static IResult WithKind(string kind, DaemonContext daemon, Func<ConnectorKind, ConnectorRuntime, IResult> run)
    {
        if (ConnectorKinds.Parse(kind) is not { } k)
        {
            return ProblemResults.Result(BadKind(kind));
        }

        return daemon.Connectors is { } connectors ? run(k, connectors) : NotRunning();
    }

    private static KheishError BadKind(string kind) => KheishError.BadRequest(
        "invalid_connector_kind", $"connector kind `{ConnectorName.Printable(kind)}` is not one of {string.Join(", ", ConnectorKinds.Names)}");

    private static IResult NotRunning() =>
        ProblemResults.Result(KheishError.Unavailable("connectors_unavailable", "connectors are not available in this daemon"));
}
