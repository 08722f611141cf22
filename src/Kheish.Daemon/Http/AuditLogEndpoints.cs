using Kheish.Core.Errors;
using Kheish.Core.Transparency;
using Kheish.Daemon.Http.ControlPlane;

namespace Kheish.Daemon.Http;

/// <summary>The transparency log over HTTP: the latest checkpoint and tlog-proof receipts (read-only).</summary>
internal static class AuditLogEndpoints
{
    public const string CheckpointContentType = "text/plain; charset=utf-8";

    public static void MapAuditLogEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/audit/checkpoint", IResult (DaemonContext daemon) =>
        {
            if (daemon.Ledger.Log is not { } log)
            {
                return ProblemResults.Result(KheishError.NotFound("transparency_log_off", "this daemon keeps no transparency log"));
            }

            return log.CheckpointNote is { } note
                ? TypedResults.Text(note, CheckpointContentType)
                : ProblemResults.Result(log.Problem is { } problem
                    ? KheishError.Unavailable("transparency_log_unavailable", $"the transparency log is unavailable: {problem}")
                    : KheishError.NotFound("no_checkpoint", "the log has published no checkpoint yet"));
        }).AllowReadOnly();

        app.MapGet("/v1/audit/proof/{actionId}", IResult (string actionId, DaemonContext daemon) =>
        {
            if (daemon.Ledger.Log is not { } log)
            {
                return ProblemResults.Result(KheishError.NotFound("transparency_log_off", "this daemon keeps no transparency log"));
            }

            Result<TlogProof> proof = log.Prove(actionId);
            return proof.TryGetValue(out TlogProof? receipt, out KheishError? error)
                ? TypedResults.Text(receipt.Format(), CheckpointContentType)
                : ProblemResults.Result(error);
        }).AllowReadOnly();
    }
}
