using Kheish.Core.Broker;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Client;

/// <summary><c>runtime auth ...</c> against a running daemon's /v1/runtime/auth API (admin token).</summary>
internal sealed class OnlineBrokerAdministration(DaemonClient client) : IBrokerAdministration
{
    public Task<Result<SubjectStatus>> GetSubjectAsync(SubjectId subject, CancellationToken cancellationToken) =>
        client.GetAsync($"/v1/runtime/auth/subjects/{Escape(subject.ToString())}", BrokerJsonContext.Default.SubjectStatus, cancellationToken);

    public Task<Result<SubjectRevocation>> RevokeSubjectAsync(SubjectId subject, CancellationToken cancellationToken) =>
        client.SendAsync(HttpMethod.Post, $"/v1/runtime/auth/subjects/{Escape(subject.ToString())}/revoke", null, BrokerJsonContext.Default.SubjectRevocation, cancellationToken);

    public Task<Result<LeaseStatus>> GetLeaseAsync(LeaseId lease, CancellationToken cancellationToken) =>
        client.GetAsync($"/v1/runtime/auth/leases/{Escape(lease.ToString())}", BrokerJsonContext.Default.LeaseStatus, cancellationToken);

    public Task<Result<LeaseStatus>> RevokeLeaseAsync(LeaseId lease, CancellationToken cancellationToken) =>
        client.SendAsync(HttpMethod.Post, $"/v1/runtime/auth/leases/{Escape(lease.ToString())}/revoke", null, BrokerJsonContext.Default.LeaseStatus, cancellationToken);

    public Task<Result<SlotRevocation>> RevokeSlotAsync(string slotId, bool force, CancellationToken cancellationToken) =>
        client.SendAsync(HttpMethod.Post, $"/v1/runtime/auth/slots/{Escape(slotId)}/revoke{(force ? "?force=true" : "")}", null, BrokerJsonContext.Default.SlotRevocation, cancellationToken);

    private static string Escape(string s) => Uri.EscapeDataString(s);
}
