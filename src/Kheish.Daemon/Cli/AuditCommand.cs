using System.CommandLine;
using Kheish.Core.Audit;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Daemon.Cli;

/// <summary><c>kheish-daemon audit ...</c>: the ledger's signing key and its transparency log (receipts, consistency).</summary>
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

    private static readonly Argument<string> ProofFile = new("file")
    {
        Description = "A tlog-proof receipt (from 'runs prove' or GET /v1/audit/proof/{action_id}).",
    };

    private static readonly Option<string?> LogPublicKey = new("--public-key")
    {
        Description = "The log's Ed25519 public key (64 hex characters, from 'audit public-key'). Required for verify-proof; consistency defaults to the state root's key.",
    };

    private static readonly Option<string?> Origin = new("--origin")
    {
        Description = "Require this checkpoint origin (default: accept the origin the checkpoint names, signed by --public-key).",
    };

    private static readonly Option<string[]> WitnessKey = new("--witness-key")
    {
        Description = "A witness whose cosignature the receipt's checkpoint must carry, as <key name>=<64 hex Ed25519 public key> or just the hex key " +
            "(any key name; 'witness public-key' prints both). Repeatable.",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<int?> WitnessQuorum = new("--witness-quorum")
    {
        Description = "How many of the --witness-key witnesses must have cosigned (default: all of them).",
    };

    private static readonly Argument<string> OldCheckpoint = new("old_checkpoint")
    {
        Description = "A checkpoint file kept outside the state root (a copy of external-action-log/checkpoint).",
    };

    public static Command Create()
    {
        var command = new Command("audit", "The signed external-action ledger: its signing key, transparency-log receipts and consistency.");

        var publicKey = new Command(
            "public-key",
            "Print the ledger's Ed25519 public key (hex): pin it ('runs verify --public-key') somewhere the state root's writers cannot change.");
        publicKey.SetAction((parseResult, _) => Task.FromResult(RunPublicKey(parseResult)));
        command.Subcommands.Add(publicKey);

        var verifyProof = new Command(
            "verify-proof",
            "Verify a tlog-proof receipt offline with only the log's public key: the checkpoint signature, the inclusion proof, " +
            "and the record line it carries (its hash and signature). Exit 0 and what it proves, or exit 1 and why not.");
        verifyProof.Arguments.Add(ProofFile);
        verifyProof.Options.Add(LogPublicKey);
        verifyProof.Options.Add(Origin);
        verifyProof.Options.Add(WitnessKey);
        verifyProof.Options.Add(WitnessQuorum);
        verifyProof.SetAction((parseResult, _) => Task.FromResult(RunVerifyProof(parseResult)));
        command.Subcommands.Add(verifyProof);

        var consistency = new Command(
            "consistency",
            "Prove that this state root's transparency log extends an older checkpoint kept elsewhere: prints the consistency proof (exit 0), " +
            "or names the rollback or fork (exit 1).");
        consistency.Arguments.Add(OldCheckpoint);
        consistency.Options.Add(LogPublicKey);
        consistency.Options.Add(CommonOptions.Offline);
        consistency.SetAction((parseResult, _) => Task.FromResult(RunConsistency(parseResult)));
        command.Subcommands.Add(consistency);

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

    private static int RunVerifyProof(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        if (parseResult.GetValue(LogPublicKey) is not { } hex)
        {
            return CliOutput.Fail(KheishError.BadRequest("bad_arguments", "pass --public-key <hex>: a receipt proves something only against a key you trust"), json);
        }

        if (Core.Transparency.LogState.ParsePublicKey(hex) is not { } publicKey)
        {
            return CliOutput.Fail(KheishError.BadRequest("invalid_public_key", "--public-key is not 64 hex characters of an Ed25519 public key"), json);
        }

        if (!Core.Transparency.WitnessRequirement.Parse(parseResult.GetValue(WitnessKey) ?? [], parseResult.GetValue(WitnessQuorum)).TryGetValue(out Core.Transparency.WitnessRequirement? witnesses, out KheishError? usage))
        {
            return CliOutput.Fail(usage, json);
        }

        Result<byte[]> file = TransparencyCli.ReadFile(parseResult.GetValue(ProofFile)!, "receipt");
        if (!file.TryGetValue(out byte[]? bytes, out KheishError? readError))
        {
            return CliOutput.Fail(readError, json);
        }

        string text;
        try
        {
            text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (System.Text.DecoderFallbackException)
        {
            return Invalid("the receipt is not valid UTF-8");
        }

        Result<Core.Transparency.ReceiptCheck> verified = Core.Transparency.ReceiptVerifier.Verify(text, publicKey, parseResult.GetValue(Origin));
        if (!verified.TryGetValue(out Core.Transparency.ReceiptCheck? check, out KheishError? error))
        {
            return Invalid(error.Message);
        }

        Result<IReadOnlyList<string>> cosigned = witnesses.Check(check.CheckpointNote);
        if (!cosigned.TryGetValue(out IReadOnlyList<string>? cosigners, out error))
        {
            return Invalid(error.Message);
        }

        if (json)
        {
            CliOutput.WriteJson(
                new Core.Transparency.ReceiptVerification(true, check.Record.ActionId, check.Index, check.Checkpoint.Size, check.Checkpoint.Origin, check.Checkpoint.RootHex, check.Record)
                {
                    CosignedBy = cosigners,
                },
                AuditJsonContext.Default.ReceiptVerification);
        }
        else
        {
            CliOutput.Out.WriteLine(
                $"OK: action {check.Record.ActionId} ({check.Record.Phase} {LedgerChecks.Printable(check.Record.Kind)} {LedgerChecks.Printable(check.Record.Target)}) " +
                $"is leaf {check.Index} of log {check.Checkpoint.Origin} at size {check.Checkpoint.Size}, root {check.Checkpoint.RootHex}, signed by {Convert.ToHexStringLower(publicKey)}" +
                (cosigners.Count == 0 ? "" : $", cosigned by {string.Join(", ", cosigners)}"));
        }

        return ExitCodes.Ok;

        int Invalid(string message)
        {
            if (json)
            {
                CliOutput.Fail(KheishError.BadRequest(Core.Transparency.ReceiptVerifier.Code, message), json: true);
            }
            else
            {
                CliOutput.Out.WriteLine($"FAILED: {message}");
            }

            return ExitCodes.HealthError;
        }
    }

    private static int RunConsistency(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        StateRoot root = CommonOptions.GetStateRoot(parseResult);
        Result<byte[]> kept = TransparencyCli.ReadFile(parseResult.GetValue(OldCheckpoint)!, "checkpoint");
        if (!kept.TryGetValue(out byte[]? note, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        Result<byte[]> key = TransparencyCli.LogKey(root, parseResult.GetValue(LogPublicKey));
        if (!key.TryGetValue(out byte[]? publicKey, out error))
        {
            return CliOutput.Fail(error, json);
        }

        Result<Core.Transparency.ConsistencyReport> report = Core.Transparency.ConsistencyCheck.Run(root, publicKey, note);
        return report.TryGetValue(out Core.Transparency.ConsistencyReport? r, out error)
            ? TransparencyCli.WriteConsistency(r, json, proofLines: true)
            : CliOutput.Fail(error, json);
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
