namespace Kheish.Core.Audit;

/// <summary>
/// The records of one run, oldest first: the body of <c>GET /v1/runs/{run_id}/external-actions</c>
/// and of <c>runs external-actions --output json</c> (one shape for both).
/// </summary>
internal sealed record ExternalActionsListing(string RunId, int Count, IReadOnlyList<LedgerRecord> ExternalActions);
