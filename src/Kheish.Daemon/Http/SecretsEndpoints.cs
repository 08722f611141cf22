using System.Text.Json;
using System.Text.Json.Serialization;
using Kheish.Core.Errors;
using Kheish.Core.Secrets;

namespace Kheish.Daemon.Http;

/// <summary>
/// Body of <c>POST /v1/runtime/secrets</c>: the full record. Give the secret either as
/// <c>state</c> (the provider-specific object) or as <c>value</c> (one string, stored as
/// <c>state.api_key</c> or <c>state.value</c> by mode). The value is write-only.
/// </summary>
internal sealed record SecretWriteRequest(
    string SlotId,
    string Provider,
    string? Mode = null,
    JsonElement? State = null,
    string? Value = null);

internal sealed record SecretListResponse(IReadOnlyList<SlotStatus> Slots);

internal sealed record AcceptedResponse(bool Accepted);

/// <summary>Secret slots over the control plane. Admin only, even for GET; reads are metadata.</summary>
internal static class SecretsEndpoints
{
    public static void MapSecretsEndpoints(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("/v1/runtime/secrets");

        group.MapGet("/", (DaemonContext daemon) =>
            TypedResults.Ok(new SecretListResponse(daemon.Slots.ListStatus())));

        group.MapGet("/{slotRef}", IResult (string slotRef, DaemonContext daemon) =>
        {
            if (!SlotId.Parse(slotRef).TryGetValue(out SlotId id, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            return daemon.Slots.Get(id) is { } record
                ? TypedResults.Ok(record.ToStatus())
                : ProblemResults.Result(KheishError.NotFound("slot_not_found", $"no secret slot named {id}"));
        });

        group.MapPost("/", async Task<IResult> (HttpRequest request, DaemonContext daemon) =>
        {
            Result<SecretWriteRequest> body = await RequestBody.ReadAsync(request, HttpJsonContext.Default.SecretWriteRequest);
            if (!body.TryGetValue(out SecretWriteRequest? write, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            Result<SlotRecord> record = ToRecord(write, daemon.Clock);
            if (!record.IsOk)
            {
                return ProblemResults.Result(record.Error);
            }

            Result<SlotStatus> stored = daemon.Slots.Set(record.Value);
            return stored.IsOk ? TypedResults.Ok(stored.Value) : ProblemResults.Result(stored.Error);
        }).Accepts<SecretWriteRequest>("application/json");

        group.MapDelete("/{slotRef}", IResult (string slotRef, DaemonContext daemon, Mcp.McpHub mcp) =>
        {
            if (!SlotId.Parse(slotRef).TryGetValue(out SlotId id, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            if (daemon.RoutesReferencing(id.Value) is { Count: > 0 } routes)
            {
                return ProblemResults.Result(KheishError.Conflict("slot_in_use",
                    $"slot {id} is referenced by route(s) {string.Join(", ", routes)}; change the routes file first"));
            }

            if (daemon.Connectors?.ConnectorsReferencing(id.Value) is { Count: > 0 } connectors)
            {
                return ProblemResults.Result(KheishError.Conflict("slot_in_use",
                    $"slot {id} is referenced by connector(s) {string.Join(", ", connectors)}; change or delete them first"));
            }

            if (mcp.ServersReferencing(id.Value) is { Count: > 0 } servers)
            {
                return ProblemResults.Result(KheishError.Conflict("slot_in_use",
                    $"slot {id} is referenced by mcp server(s) {string.Join(", ", servers)}; remove or change them first"));
            }

            Result<bool> deleted = daemon.Slots.Delete(id);
            return deleted.IsOk ? TypedResults.Ok(new AcceptedResponse(deleted.Value)) : ProblemResults.Result(deleted.Error);
        });
    }

    private static Result<SlotRecord> ToRecord(SecretWriteRequest write, TimeProvider clock)
    {
        if (!SlotId.Parse(write.SlotId).TryGetValue(out SlotId id, out KheishError? error))
        {
            return error;
        }

        if (SlotNames.ParseProvider(write.Provider) is not { } provider)
        {
            return KheishError.BadRequest("invalid_provider", $"provider must be one of {string.Join(", ", SlotNames.Providers)}");
        }

        SlotMode mode = SlotNames.DefaultMode(provider);
        if (write.Mode is not null)
        {
            if (SlotNames.ParseMode(write.Mode) is not { } parsed)
            {
                return KheishError.BadRequest("invalid_slot_mode", $"mode must be one of {string.Join(", ", SlotNames.Modes)}");
            }

            mode = parsed;
        }

        if ((write.State is null) == (write.Value is null))
        {
            return KheishError.BadRequest("invalid_body", "give exactly one of 'state' (an object) or 'value' (a string)");
        }

        long now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        SlotRecord record;
        if (write.Value is not null)
        {
            if (mode == SlotMode.OauthAccount)
            {
                return KheishError.BadRequest("invalid_body", "an oauth_account slot takes 'state', not 'value'");
            }

            if (write.Value.Length == 0)
            {
                return KheishError.BadRequest("empty_secret", "the secret value is empty");
            }

            record = SlotRecord.WithSecret(id, provider, mode, write.Value, now);
        }
        else
        {
            record = new SlotRecord(id, provider, mode, write.State!.Value.Clone(), now);
        }

        return record.Validate() is { } invalid ? invalid : record;
    }
}
