using System.CommandLine;
using Kheish.Core.Audit;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Daemon.Cli;

/// <summary><c>kheish-daemon audit ...</c>: the external-action ledger's signing key.</summary>
internal static class AuditCommand
{
    private static readonly Option<int> Count = new("--count")
    {
        Description = "Records to append in total.",
        DefaultValueFactory = _ => 1000,
    };

    private static readonly Option<int> Producers = new("--producers")
    {
        Description = "Concurrent appenders.",
        DefaultValueFactory = _ => 4,
    };

    private static readonly Option<string> Run = new("--run")
    {
        Description = "Run id (bucket) to append to.",
        DefaultValueFactory = _ => "stress",
    };

    public static Command Create()
    {
        var command = new Command("audit", "The signed external-action ledger's signing key.");

        var publicKey = new Command(
            "public-key",
            "Print the ledger's Ed25519 public key (hex): pin it ('runs verify --public-key') somewhere the state root's writers cannot change.");
        publicKey.SetAction((parseResult, _) => Task.FromResult(RunPublicKey(parseResult)));
        command.Subcommands.Add(publicKey);

        // Hidden: the kill -9 crash test drives it (tests/Kheish.Daemon.Tests/Audit). It prints one
        // "ack <action_id>" line per append, only after that append is durable.
        var stress = new Command("stress", "Test only: append --count probe records from --producers threads, printing each acknowledged action id.")
        {
            Hidden = true,
        };
        stress.Options.Add(Count);
        stress.Options.Add(Producers);
        stress.Options.Add(Run);
        stress.SetAction(RunStressAsync);
        command.Subcommands.Add(stress);
        return command;
    }

    private static int RunPublicKey(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        StateRoot root = CommonOptions.GetStateRoot(parseResult);
        Result<AuditSigningKey> resolved = AuditSigningKey.Resolve(root, Environment.GetEnvironmentVariable, createIfMissing: false);
        if (!resolved.TryGetValue(out AuditSigningKey? key, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        using (key)
        {
            if (json)
            {
                CliOutput.WriteJson(new AuditPublicKey(LedgerEncoding.SignatureAlgorithm, key.PublicKeyHex, key.Source), AuditJsonContext.Default.AuditPublicKey);
            }
            else
            {
                CliOutput.Out.WriteLine(key.PublicKeyHex);
            }
        }

        return ExitCodes.Ok;
    }

    private static async Task<int> RunStressAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        bool json = CommonOptions.IsJson(parseResult);
        StateRoot root = CommonOptions.GetStateRoot(parseResult);
        int count = parseResult.GetValue(Count);
        int producers = Math.Max(1, parseResult.GetValue(Producers));
        string run = parseResult.GetValue(Run)!;

        Result<DaemonLock> locked = DaemonLock.TryAcquire(root, "stop it first");
        if (!locked.TryGetValue(out DaemonLock? daemonLock, out KheishError? lockError))
        {
            return CliOutput.Fail(lockError, json);
        }

        using (daemonLock)
        {
            Result<ExternalActionLedger> opened = ExternalActionLedger.OpenForDaemon(root, Environment.GetEnvironmentVariable);
            if (!opened.TryGetValue(out ExternalActionLedger? ledger, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            await using (ledger.ConfigureAwait(false))
            {
                int next = -1;
                int failed = 0;
                await Task.WhenAll(Enumerable.Range(0, producers).Select(p => Task.Run(
                    async () =>
                    {
                        while (Interlocked.Increment(ref next) < count)
                        {
                            var ev = new ExternalActionEvent(ActionPhase.Started, "probe", "stress://local") { RunId = run, AgentId = $"producer-{p}" };
                            Result<LedgerRecord> appended = await ledger.AppendAsync(ev, cancellationToken).ConfigureAwait(false);
                            if (appended.TryGetValue(out LedgerRecord? record, out _))
                            {
                                CliOutput.Out.WriteLine($"ack {record.ActionId}");
                            }
                            else
                            {
                                Interlocked.Increment(ref failed);
                            }
                        }
                    },
                    cancellationToken))).ConfigureAwait(false);

                CliOutput.Out.WriteLine($"done {count - failed} acknowledged, {failed} failed");
                return failed == 0 ? ExitCodes.Ok : ExitCodes.HealthError;
            }
        }
    }
}
