using System.CommandLine;
using System.Globalization;
using System.Net;
using Kheish.Core.Errors;
using Kheish.Core.Secrets;
using Kheish.Daemon.Cli.Secrets;
using Kheish.Daemon.Http;

namespace Kheish.Daemon.Cli;

/// <summary>
/// <c>kheish-daemon runtime auth accounts list|get|refresh|revoke</c>: the imported accounts.
/// <c>list</c> and <c>get</c> also work --offline (they read the store); <c>refresh</c> and
/// <c>revoke</c> go through the daemon, the only holder of the refresh token. Metadata only.
/// </summary>
internal static class AccountsCommand
{
    private static readonly Argument<string> SlotArgument = new("slot-id")
    {
        Description = "Account slot id, e.g. openai.codex.",
    };

    public static Command Create()
    {
        var accounts = new Command("accounts", "Imported Codex and Claude Code accounts (and MCP OAuth accounts): status, refresh, revoke.");
        accounts.Subcommands.Add(CreateList());
        accounts.Subcommands.Add(CreateGet());
        accounts.Subcommands.Add(CreateOnlineVerb(
            "refresh",
            "Refresh the account's tokens now (through the daemon). The new tokens are saved before use; on failure the old ones are kept and the failure is recorded."));
        accounts.Subcommands.Add(CreateOnlineVerb(
            "revoke",
            "Delete the account slot and revoke every lease drawing on it (through the daemon). Routes using it answer 503 until it is imported again."));
        return accounts;
    }

    private static Command CreateList()
    {
        var list = new Command("list", "List the oauth_account slots: id, provider, summary, expiry, last refresh outcome. --offline reads the store.");
        CommonOptions.AddClientOptions(list);
        list.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            Result<IReadOnlyList<SlotStatus>> accounts = await ListAsync(parseResult, ct).ConfigureAwait(false);
            if (!accounts.TryGetValue(out IReadOnlyList<SlotStatus>? slots, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            if (json)
            {
                CliOutput.WriteJson(new AccountListResponse(slots), AccountsJsonContext.Default.AccountListResponse);
                return ExitCodes.Ok;
            }

            if (slots.Count == 0)
            {
                CliOutput.Out.WriteLine("no accounts");
            }

            foreach (SlotStatus s in slots)
            {
                string expires = Detail(s, "expires_at_ms") is { } e && long.TryParse(e, CultureInfo.InvariantCulture, out long ms) ? Time(ms) : "-";
                CliOutput.Out.WriteLine($"{s.SlotId}  {s.Provider.Name()}  {s.Summary}  expires {expires}  last refresh {Detail(s, "last_refresh_outcome") ?? "-"}");
            }

            return ExitCodes.Ok;
        });
        return list;
    }

    private static Command CreateGet()
    {
        var get = new Command("get", "Show one account slot's status (never a token). --offline reads the store. Exit 5 when there is none.");
        get.Arguments.Add(SlotArgument);
        CommonOptions.AddClientOptions(get);
        get.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (!SlotId.Parse(parseResult.GetValue(SlotArgument)).TryGetValue(out SlotId id, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            Result<SlotStatus> status;
            if (parseResult.GetValue(CommonOptions.Offline))
            {
                Result<IReadOnlyList<SlotStatus>> all = await ListAsync(parseResult, ct).ConfigureAwait(false);
                status = !all.IsOk ? all.Error
                    : all.Value.FirstOrDefault(s => s.SlotId == id.Value) is { } found ? found
                    : KheishError.NotFound("account_not_found", $"no account slot named {id}");
            }
            else if (CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out error))
            {
                using (client)
                {
                    status = await client.GetAsync(Path(id), AccountsJsonContext.Default.SlotStatus, ct).ConfigureAwait(false);
                }
            }
            else
            {
                status = error;
            }

            return Print(status, json);
        });
        return get;
    }

    private static Command CreateOnlineVerb(string verb, string description)
    {
        var command = new Command(verb, description);
        command.Arguments.Add(SlotArgument);
        CommonOptions.AddClientOptions(command);
        command.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (parseResult.GetValue(CommonOptions.Offline))
            {
                return CliOutput.Fail(KheishError.BadRequest(
                    "accounts_need_daemon",
                    $"`accounts {verb}` goes through the running daemon (it alone holds and rotates the refresh token); drop --offline"), json);
            }

            if (!SlotId.Parse(parseResult.GetValue(SlotArgument)).TryGetValue(out SlotId id, out KheishError? error)
                || !CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out error))
            {
                return CliOutput.Fail(error, json);
            }

            using (client)
            {
                if (verb == "refresh")
                {
                    return Print(await client.SendAsync(HttpMethod.Post, Path(id) + "/refresh", null, AccountsJsonContext.Default.SlotStatus, ct).ConfigureAwait(false), json);
                }

                return await RevokeAsync(client, id, json, r => $"revoked account {r.SlotId}: slot deleted, {r.RevokedLeases.Count} lease(s) revoked", ct).ConfigureAwait(false);
            }
        });
        return command;
    }

    /// <summary>
    /// <c>POST .../revoke</c> for an account slot (the slot is deleted and its leases revoked), then
    /// the answer as JSON or as <paramref name="describe"/>'s line. Shared by <c>runtime auth
    /// accounts revoke</c> and <c>mcp oauth logout</c>.
    /// </summary>
    internal static async Task<int> RevokeAsync(Client.DaemonClient client, SlotId id, bool json, Func<AccountRevocation, string> describe, CancellationToken ct)
    {
        Result<AccountRevocation> revoked = await client.SendAsync(HttpMethod.Post, Path(id) + "/revoke", null, AccountsJsonContext.Default.AccountRevocation, ct).ConfigureAwait(false);
        if (!revoked.TryGetValue(out AccountRevocation? r, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        if (json)
        {
            CliOutput.WriteJson(r, AccountsJsonContext.Default.AccountRevocation);
        }
        else
        {
            CliOutput.Out.WriteLine(describe(r));
        }

        return ExitCodes.Ok;
    }

    internal static async Task<Result<IReadOnlyList<SlotStatus>>> ListAsync(ParseResult parseResult, CancellationToken ct)
    {
        if (parseResult.GetValue(CommonOptions.Offline))
        {
            var backend = new OfflineSecretsBackend(CommonOptions.GetStateRoot(parseResult), Environment.GetEnvironmentVariable);
            Result<IReadOnlyList<SlotStatus>> all = await backend.ListAsync(ct).ConfigureAwait(false);
            return all.IsOk ? Result<IReadOnlyList<SlotStatus>>.Ok([.. all.Value.Where(s => s.Mode == SlotMode.OauthAccount)]) : all.Error;
        }

        if (!CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out KheishError? error))
        {
            return error;
        }

        using (client)
        {
            Result<AccountListResponse> r = await client.GetAsync("/v1/runtime/auth/accounts", AccountsJsonContext.Default.AccountListResponse, ct).ConfigureAwait(false);
            return r.IsOk ? Result<IReadOnlyList<SlotStatus>>.Ok(r.Value.Accounts) : r.Error;
        }
    }

    internal static int Print(Result<SlotStatus> status, bool json)
    {
        if (!status.TryGetValue(out SlotStatus? s, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        if (json)
        {
            CliOutput.WriteJson(s, AccountsJsonContext.Default.SlotStatus);
            return ExitCodes.Ok;
        }

        CliOutput.Out.WriteLine($"slot_id:    {s.SlotId}");
        CliOutput.Out.WriteLine($"provider:   {s.Provider.Name()}");
        CliOutput.Out.WriteLine($"mode:       {s.Mode.Name()}");
        CliOutput.Out.WriteLine($"summary:    {s.Summary}");
        CliOutput.Out.WriteLine($"updated_at: {Time(s.UpdatedAtMs)}");
        foreach (var (key, value) in (s.Details ?? []).OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            CliOutput.Out.WriteLine($"  {key}: {value}");
        }

        return ExitCodes.Ok;
    }

    internal static string Path(SlotId id) => "/v1/runtime/auth/accounts/" + WebUtility.UrlEncode(id.Value);

    private static string? Detail(SlotStatus s, string key) => s.Details?.GetValueOrDefault(key);

    private static string Time(long ms) =>
        DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
