using System.Net;
using Kheish.Core.Errors;
using Kheish.Core.Secrets;
using Kheish.Daemon.Client;
using Kheish.Daemon.Http;

namespace Kheish.Daemon.Cli.Secrets;

/// <summary>
/// The default backend: the running daemon's control plane. The secret value travels only
/// in the POST body, never in a URL or header.
/// </summary>
internal sealed class OnlineSecretsBackend(DaemonClient client) : ISecretsBackend
{
    public async Task<Result<IReadOnlyList<SlotStatus>>> ListAsync(CancellationToken ct)
    {
        Result<SecretListResponse> r = await client.GetAsync("/v1/runtime/secrets", HttpJsonContext.Default.SecretListResponse, ct);
        return r.IsOk ? Result<IReadOnlyList<SlotStatus>>.Ok(r.Value.Slots) : r.Error;
    }

    public Task<Result<SlotStatus>> GetAsync(SlotId id, CancellationToken ct) =>
        client.GetAsync("/v1/runtime/secrets/" + WebUtility.UrlEncode(id.Value), HttpJsonContext.Default.SlotStatus, ct);

    public Task<Result<SlotStatus>> SetAsync(SlotRecord record, CancellationToken ct) =>
        client.SendAsync(
            HttpMethod.Post,
            "/v1/runtime/secrets",
            DaemonClient.Json(
                new SecretWriteRequest(record.SlotId.Value, record.Provider.Name(), record.Mode.Name(), record.State),
                HttpJsonContext.Default.SecretWriteRequest),
            HttpJsonContext.Default.SlotStatus,
            ct);

    public async Task<Result<bool>> DeleteAsync(SlotId id, CancellationToken ct)
    {
        Result<AcceptedResponse> r = await client.SendAsync(
            HttpMethod.Delete, "/v1/runtime/secrets/" + WebUtility.UrlEncode(id.Value), null, HttpJsonContext.Default.AcceptedResponse, ct);
        return r.IsOk ? r.Value.Accepted : r.Error;
    }
}
