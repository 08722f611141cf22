using System.Security.Cryptography;
using System.Text;
using Kheish.Core.Audit;
using Kheish.Core.Errors;
using Kheish.Daemon.Http.ControlPlane;

namespace Kheish.Daemon.Http;

internal sealed record TestActionRequest(string? RunId = null, string? SessionId = null, string? Target = null);

internal sealed record TestActionResponse(LedgerRecord Started, LedgerRecord Completed);

/// <summary>The signed external-action ledger over HTTP.</summary>
internal static class RunsEndpoints
{
    public static void MapRunsEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/runs/{runId}/external-actions", IResult (string runId, DaemonContext daemon) =>
        {
            Result<IReadOnlyList<LedgerRecord>> records = daemon.Ledger.ReadRun(runId);
            return records.TryGetValue(out IReadOnlyList<LedgerRecord>? list, out KheishError? error)
                ? TypedResults.Json(new ExternalActionsListing(runId, list.Count, list), AuditJsonContext.Default.ExternalActionsListing)
                : ProblemResults.Result(error);
        }).AllowReadOnly();

        // A "probe" action: exercises the ledger end to end (started, then completed) without
        // any upstream call, so an operator can check audit health before real traffic.
        app.MapPost("/v1/runtime/audit/test-action", async Task<IResult> (HttpRequest request, DaemonContext daemon, CancellationToken ct) =>
        {
            Result<TestActionRequest> body = await RequestBody.ReadAsync(request, HttpJsonContext.Default.TestActionRequest);
            if (!body.TryGetValue(out TestActionRequest? probe, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            if (probe.RunId is { } runId && BucketName.RunIdProblem(runId) is { } runProblem)
            {
                return ProblemResults.Result(KheishError.BadRequest("invalid_run_id", runProblem));
            }

            string target = probe.Target ?? "probe";
            string digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(target)));
            var started = new ExternalActionEvent(ActionPhase.Started, "probe", target)
            {
                RunId = probe.RunId,
                SessionId = probe.SessionId,
                PrincipalId = "daemon",
                RequestDigest = digest,
            };
            Result<LedgerRecord> first = await daemon.Ledger.AppendAsync(started, ct);
            if (!first.TryGetValue(out LedgerRecord? s, out error))
            {
                return ProblemResults.Result(error);
            }

            Result<LedgerRecord> second = await daemon.Ledger.AppendAsync(
                started with { Phase = ActionPhase.Completed, ResponseDigest = digest, Outcome = "ok" }, ct);
            return second.TryGetValue(out LedgerRecord? c, out error)
                ? TypedResults.Json(new TestActionResponse(s, c), HttpJsonContext.Default.TestActionResponse)
                : ProblemResults.Result(error);
        }).Accepts<TestActionRequest>("application/json");
    }
}
