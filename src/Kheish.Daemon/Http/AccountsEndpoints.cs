using System.Text.Json.Serialization;
using Kheish.Core.Accounts;
using Kheish.Core.Errors;
using Kheish.Core.Secrets;

namespace Kheish.Daemon.Http;

internal sealed record AccountListResponse(IReadOnlyList<SlotStatus> Accounts);

/// <summary><c>POST .../mcp-oauth</c>: an MCP OAuth account made by <c>mcp oauth login</c> (the account state, tokens included).</summary>
internal sealed record McpOauthAccountWrite(string SlotId, System.Text.Json.JsonElement State)
{
    public override string ToString() => $"McpOauthAccountWrite {{ SlotId = {SlotId}, State = <redacted> }}";
}

/// <summary><c>GET .../mcp-oauth/clients</c>: the stored public clients (ids and where they are registered; no secret exists).</summary>
internal sealed record McpOauthClientList(IReadOnlyList<McpOauthStoredClient> Clients);

/// <summary>What <c>DELETE .../mcp-oauth/clients</c> did.</summary>
internal sealed record McpOauthClientForgotten(bool Deleted);

/// <summary>What <c>POST .../{slot}/revoke</c> did: the slot is gone and these leases are revoked.</summary>
internal sealed record AccountRevocation(string SlotId, bool Deleted, IReadOnlyList<string> RevokedLeases);

/// <summary>The account endpoints' wire types; options identical to <see cref="HttpJsonContext"/>.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(AccountListResponse))]
[JsonSerializable(typeof(AccountRevocation))]
[JsonSerializable(typeof(McpOauthAccountWrite))]
[JsonSerializable(typeof(McpOauthStoredClient))]
[JsonSerializable(typeof(McpOauthClientList))]
[JsonSerializable(typeof(McpOauthClientForgotten))]
[JsonSerializable(typeof(SlotStatus))]
internal sealed partial class AccountsJsonContext : JsonSerializerContext;

/// <summary>
/// <c>/v1/runtime/auth/accounts</c>: the <c>oauth_account</c> slots (admin only, even for GET,
/// like everything under <c>/v1/runtime/auth</c>). Status metadata only: no token ever leaves.
/// </summary>
internal static class AccountsEndpoints
{
    public static void MapAccountsEndpoints(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder accounts = app.MapGroup("/v1/runtime/auth/accounts");

        accounts.MapGet("/", (DaemonContext daemon) => TypedResults.Json(
            new AccountListResponse([.. daemon.Slots.List().Where(r => r.Mode == SlotMode.OauthAccount).Select(r => r.ToStatus())]),
            AccountsJsonContext.Default.AccountListResponse));

        // Written by `mcp oauth login` (the CLI owns the browser step); validated here like any account.
        accounts.MapPost("/mcp-oauth", async Task<IResult> (HttpRequest request, DaemonContext daemon) =>
        {
            Result<McpOauthAccountWrite> body = await RequestBody.ReadAsync(request, AccountsJsonContext.Default.McpOauthAccountWrite);
            if (!body.TryGetValue(out McpOauthAccountWrite? write, out KheishError? error)
                || !McpOauthAccountRecord(write.SlotId, write.State, daemon.Slots.Get).TryGetValue(out SlotRecord? record, out error))
            {
                return ProblemResults.Result(error);
            }

            Result<SlotStatus> stored = daemon.Slots.Set(record);
            return stored.IsOk ? TypedResults.Json(stored.Value, AccountsJsonContext.Default.SlotStatus) : ProblemResults.Result(stored.Error);
        });

        // The public clients `mcp oauth login` registered, per issuer and redirect URI, for reuse.
        RouteGroupBuilder clients = accounts.MapGroup("/mcp-oauth/clients");
        clients.MapGet("/", IResult (string? issuer, DaemonContext daemon) =>
        {
            if (daemon.McpOauthClients is not { } store)
            {
                return ProblemResults.Result(NoClientStore());
            }

            Result<IReadOnlyList<McpOauthStoredClient>> found = issuer is null ? store.List() : store.Find(issuer);
            return found.IsOk ? TypedResults.Json(new McpOauthClientList(found.Value), AccountsJsonContext.Default.McpOauthClientList) : ProblemResults.Result(found.Error);
        });

        clients.MapPost("/", async Task<IResult> (HttpRequest request, DaemonContext daemon) =>
        {
            Result<McpOauthStoredClient> body = await RequestBody.ReadAsync(request, AccountsJsonContext.Default.McpOauthStoredClient);
            if (!body.TryGetValue(out McpOauthStoredClient? client, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            if (daemon.McpOauthClients is not { } store)
            {
                return ProblemResults.Result(NoClientStore());
            }

            Result<McpOauthStoredClient> stored = store.Remember(client);
            return stored.IsOk ? TypedResults.Json(stored.Value, AccountsJsonContext.Default.McpOauthStoredClient) : ProblemResults.Result(stored.Error);
        });

        clients.MapDelete("/", IResult (HttpRequest request, DaemonContext daemon) =>
        {
            string? issuer = request.Query["issuer"].Count == 1 ? request.Query["issuer"].ToString() : null;
            string? redirectUri = request.Query["redirect_uri"].Count == 1 ? request.Query["redirect_uri"].ToString() : null;
            if (issuer is null || redirectUri is null)
            {
                return ProblemResults.Result(KheishError.BadRequest("invalid_query", "give both issuer and redirect_uri"));
            }

            if (daemon.McpOauthClients is not { } store)
            {
                return ProblemResults.Result(NoClientStore());
            }

            Result<bool> deleted = store.Forget(issuer, redirectUri);
            return deleted.IsOk ? TypedResults.Json(new McpOauthClientForgotten(deleted.Value), AccountsJsonContext.Default.McpOauthClientForgotten) : ProblemResults.Result(deleted.Error);
        });

        accounts.MapGet("/{slotRef}", IResult (string slotRef, DaemonContext daemon) =>
            Find(slotRef, daemon).TryGetValue(out SlotRecord? record, out KheishError? error)
                ? TypedResults.Json(record.ToStatus(), AccountsJsonContext.Default.SlotStatus)
                : ProblemResults.Result(error));

        accounts.MapPost("/{slotRef}/refresh", async Task<IResult> (string slotRef, DaemonContext daemon, CancellationToken ct) =>
        {
            if (!Find(slotRef, daemon).TryGetValue(out SlotRecord? record, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            if (AccountKinds.Of(record) is null)
            {
                return ProblemResults.Result(KheishError.BadRequest(
                    "account_refresh_unsupported", $"slot {record.SlotId} is not an account the daemon can refresh"));
            }

            if (daemon.Accounts is not { } manager)
            {
                return ProblemResults.Result(KheishError.Unavailable("account_refresh_unavailable", "this daemon serves no accounts (no master key configured)"));
            }

            Result<AccountState> refreshed = await manager.ForceRefreshAsync(record.SlotId, ct);
            if (!refreshed.IsOk)
            {
                return ProblemResults.Result(refreshed.Error);
            }

            return daemon.Slots.Get(record.SlotId) is { } current
                ? TypedResults.Json(current.ToStatus(), AccountsJsonContext.Default.SlotStatus)
                : ProblemResults.Result(NotFound(record.SlotId.Value));
        });

        accounts.MapPost("/{slotRef}/revoke", IResult (string slotRef, DaemonContext daemon) =>
        {
            if (!Find(slotRef, daemon).TryGetValue(out SlotRecord? record, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            // Leases first (durable tombstone), then the slot: no lease outlives the account.
            if (!daemon.Broker.RevokeSlot(record.SlotId.Value).TryGetValue(out Core.Broker.SlotRevocation? revocation, out error))
            {
                return ProblemResults.Result(error);
            }

            Result<bool> deleted = daemon.Slots.Delete(record.SlotId);
            return deleted.IsOk
                ? TypedResults.Json(new AccountRevocation(record.SlotId.Value, deleted.Value, revocation.RevokedLeases), AccountsJsonContext.Default.AccountRevocation)
                : ProblemResults.Result(deleted.Error);
        });
    }

    /// <summary>The slot an MCP OAuth account is stored in: <c>mcp.oauth.*</c>, never over a slot of another kind.</summary>
    public static Result<SlotRecord> McpOauthAccountRecord(string? slotRef, System.Text.Json.JsonElement state, Func<SlotId, SlotRecord?> existing)
    {
        if (!SlotId.Parse(slotRef).TryGetValue(out SlotId id, out KheishError? error))
        {
            return error;
        }

        if (!id.Value.StartsWith(McpOauthAccount.SlotPrefix, StringComparison.Ordinal) || id.Value.Length == McpOauthAccount.SlotPrefix.Length)
        {
            return KheishError.BadRequest("mcp_oauth_slot_invalid", $"an MCP OAuth account lives in a slot named {McpOauthAccount.SlotPrefix}<id>, not {id}");
        }

        if (existing(id) is { } current && current.Provider != SlotProvider.McpOauth)
        {
            return KheishError.Conflict("slot_kind_conflict", $"slot {id} already holds a {current.Provider.Name()} {current.Mode.Name()} slot; delete it first or pick another --slot");
        }

        if (!AccountState.FromJson(AccountKind.McpOauth, state, id.Value).TryGetValue(out AccountState? account, out error))
        {
            return error;
        }

        return account.ToRecord(id);
    }

    private static Result<SlotRecord> Find(string slotRef, DaemonContext daemon)
    {
        if (!SlotId.Parse(slotRef).TryGetValue(out SlotId id, out KheishError? error))
        {
            return error;
        }

        return daemon.Slots.Get(id) is { Mode: SlotMode.OauthAccount } record ? record : NotFound(id.Value);
    }

    private static KheishError NoClientStore() =>
        KheishError.Unavailable("master_key_required", "this daemon stores no OAuth clients (no master key configured)");

    private static KheishError NotFound(string slotId) =>
        KheishError.NotFound("account_not_found", $"no account slot named {slotId} (import one with `kheish-daemon secrets import-codex` or `import-claude-code`, or log in with `kheish-daemon mcp oauth login`)");
}
