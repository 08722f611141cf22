using System.CommandLine;
using System.Globalization;
using Kheish.Core.Broker;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Daemon.Cli;

/// <summary>
/// <c>kheish-daemon runtime auth ...</c>: inspect and revoke broker subjects, leases and
/// slots. <c>--offline</c> works on the state files; otherwise the verbs go to the daemon.
/// </summary>
internal static class RuntimeCommand
{
    private static readonly Argument<string> SubjectArgument = new("subject-id")
    {
        Description = "Subject id: daemon, agent:<id>, session:<id>, connector:<name>, apikey:<id> or principal:<id>.",
    };

    private static readonly Argument<string> LeaseArgument = new("lease-id")
    {
        Description = "Lease id, e.g. route-lease-<32 hex digits> (shown when the lease was issued).",
    };

    private static readonly Argument<string> SlotArgument = new("slot-id")
    {
        Description = "Secret slot id, e.g. openai.default or mcp.oauth.linear.",
    };

    private static readonly Option<bool> Force = new("--force")
    {
        Description = "Revoke the slot even though it does not exist (pre-emptive revocation); without it an unknown slot is an error (exit 5).",
    };

    public static Command Create()
    {
        var runtime = new Command("runtime", "Inspect and act on the running daemon's state (credential broker).");
        var auth = new Command("auth", "Credential broker: subjects, leases and slot revocation.");
        runtime.Subcommands.Add(auth);
        runtime.Subcommands.Add(ConnectorsCommand.Create());
        runtime.Subcommands.Add(McpRuntimeGet.Create());

        auth.Subcommands.Add(Verb(
            "subject",
            "Show a subject: its epoch, whether it is revoked, and its active lease ids.",
            SubjectArgument,
            (backend, pr, ct) => WithSubject(pr, s => backend.GetSubjectAsync(s, ct)),
            PrintSubject,
            BrokerJsonContext.Default.SubjectStatus));
        auth.Subcommands.Add(Verb(
            "revoke-subject",
            "Revoke a subject for good: bump its epoch and revoke all its leases. Durable before it returns.",
            SubjectArgument,
            (backend, pr, ct) => WithSubject(pr, s => backend.RevokeSubjectAsync(s, ct)),
            PrintSubjectRevocation,
            BrokerJsonContext.Default.SubjectRevocation));
        auth.Subcommands.Add(Verb(
            "lease",
            "Show a lease (never its token or digest): audience, times, revoked, active.",
            LeaseArgument,
            (backend, pr, ct) => WithLease(pr, l => backend.GetLeaseAsync(l, ct)),
            PrintLease,
            BrokerJsonContext.Default.LeaseStatus));
        auth.Subcommands.Add(Verb(
            "revoke-lease",
            "Revoke one lease until it expires. Durable before it returns.",
            LeaseArgument,
            (backend, pr, ct) => WithLease(pr, l => backend.RevokeLeaseAsync(l, ct)),
            PrintLease,
            BrokerJsonContext.Default.LeaseStatus));
        auth.Subcommands.Add(Verb(
            "revoke-slot",
            "Revoke every lease drawing on a secret slot; the slot stays refused until it is written again.",
            SlotArgument,
            (backend, pr, ct) => backend.RevokeSlotAsync(pr.GetValue(SlotArgument)!, pr.GetValue(Force), ct),
            PrintSlotRevocation,
            BrokerJsonContext.Default.SlotRevocation));
        auth.Subcommands.First(c => c.Name == "revoke-slot").Options.Add(Force);
        auth.Subcommands.Add(AccountsCommand.Create());
        return runtime;
    }

    /// <summary><c>runtime get</c>: the daemon's <c>GET /v1/runtime</c> (routes in force; never a key).</summary>
    private static Command Verb<T>(
        string name,
        string description,
        Argument<string> argument,
        Func<IBrokerAdministration, ParseResult, CancellationToken, Task<Result<T>>> run,
        Action<T> print,
        System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> jsonType)
    {
        var command = new Command(name, description);
        command.Arguments.Add(argument);
        CommonOptions.AddClientOptions(command);
        command.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (!SelectBackend(parseResult).TryGetValue(out IBrokerAdministration? backend, out KheishError? backendError))
            {
                return CliOutput.Fail(backendError, json);
            }

            Result<T> result = await run(backend, parseResult, ct).ConfigureAwait(false);
            if (!result.TryGetValue(out T? value, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            if (json)
            {
                CliOutput.WriteJson(value, jsonType);
            }
            else
            {
                print(value);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// The one place that chooses how the verbs travel: --offline acts on the state files (under
    /// the master key when one is configured); otherwise the daemon's /v1/runtime/auth API.
    /// </summary>
    private static Result<IBrokerAdministration> SelectBackend(ParseResult parseResult)
    {
        StateRoot root = CommonOptions.GetStateRoot(parseResult);
        if (parseResult.GetValue(CommonOptions.Offline))
        {
            Result<MasterKey?> key = MasterKey.FromEnvironment(Environment.GetEnvironmentVariable);
            return key.IsOk
                ? new OfflineBrokerAdministration(root, EnvelopeStateFileCodec.For(key.Value, root), slotExists: id => SlotExists(root, key.Value, id))
                : key.Error;
        }

        Result<Client.DaemonClient> client = CommonOptions.CreateClient(parseResult);
        return client.IsOk ? new Client.OnlineBrokerAdministration(client.Value) : client.Error;
    }

    private static Result<bool> SlotExists(StateRoot root, MasterKey? key, string slotId)
    {
        if (!Core.Secrets.SlotId.Parse(slotId).TryGetValue(out Core.Secrets.SlotId id, out KheishError? error))
        {
            return error;
        }

        // Without the master key the store cannot be read: say so rather than guess.
        return Core.Secrets.SlotStore.Load(root, key).TryGetValue(out Core.Secrets.SlotStore? store, out error)
            ? store.Get(id) is not null
            : error;
    }

    private static Task<Result<T>> WithSubject<T>(ParseResult parseResult, Func<SubjectId, Task<Result<T>>> run) =>
        SubjectId.Parse(parseResult.GetValue(SubjectArgument)).TryGetValue(out SubjectId subject, out KheishError? error)
            ? run(subject)
            : Task.FromResult(Result<T>.Fail(error));

    private static Task<Result<T>> WithLease<T>(ParseResult parseResult, Func<LeaseId, Task<Result<T>>> run) =>
        LeaseId.Parse(parseResult.GetValue(LeaseArgument)).TryGetValue(out LeaseId lease, out KheishError? error)
            ? run(lease)
            : Task.FromResult(Result<T>.Fail(error));

    private static void PrintSubject(SubjectStatus s)
    {
        Line("subject", s.SubjectId);
        Line("epoch", s.CurrentEpoch.ToString(CultureInfo.InvariantCulture));
        Line("revoked", YesNo(s.Revoked));
        Line("route leases", List(s.ActiveRouteLeaseIds));
        Line("connector leases", List(s.ActiveConnectorLeaseIds));
        Line("mcp leases", List(s.ActiveMcpLeaseIds));
    }

    private static void PrintSubjectRevocation(SubjectRevocation r)
    {
        Line("revoked subject", r.SubjectId);
        Line("epoch", r.CurrentEpoch.ToString(CultureInfo.InvariantCulture));
        Line("revoked leases", List(r.RevokedLeases));
        if (r.CascadedSubjects is { Count: > 0 } cascaded)
        {
            Line("also revoked", List(cascaded));
        }
    }

    private static void PrintLease(LeaseStatus s)
    {
        CredentialLease l = s.Lease;
        Line("lease", l.Id);
        Line("grant", l.GrantId);
        Line("subject", $"{l.SubjectId} (epoch {l.SubjectEpoch.ToString(CultureInfo.InvariantCulture)})");
        Line("audience", l.Audience switch
        {
            RouteAudience r => $"route {r.RouteId} via slot {r.SlotId}",
            ConnectorAudience c => $"connector {c.Connector} keys [{string.Join(", ", c.EnvKeys)}] refs [{string.Join(", ", c.SecretRefs)}]",
            McpServerAudience m => $"mcp_server {m.Server} via slot {m.SlotId} (scopes {m.ScopesHash[..Math.Min(12, m.ScopesHash.Length)]})",
            _ => "unknown",
        });
        Line("issued", Time(l.IssuedAtMs));
        Line("expires", Time(l.ExpiresAtMs));
        Line("revoked", YesNo(s.Revoked));
        Line("active", YesNo(s.Active));
    }

    private static void PrintSlotRevocation(SlotRevocation r)
    {
        Line("revoked slot", r.SlotId);
        Line("revoked leases", List(r.RevokedLeases));
    }

    private static void Line(string label, string value) => CliOutput.Out.WriteLine($"{label,-17} {value}");

    private static string YesNo(bool value) => value ? "yes" : "no";

    private static string List(IReadOnlyList<string>? ids) => ids is { Count: > 0 } ? string.Join(", ", ids) : "-";

    private static string Time(long ms) =>
        DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
