using System.CommandLine;
using System.Globalization;
using Kheish.Core.Audit;
using Kheish.Core.Errors;
using Kheish.Core.Storage;

namespace Kheish.Daemon.Cli;

/// <summary><c>kheish-daemon runs ...</c>: what a run did outside, from the signed ledger.</summary>
internal static class RunsCommand
{
    private static readonly Argument<string?> VerifyRunId = new("run_id")
    {
        Description = "The run whose ledger bucket to verify (its run id). Omit and pass --all to verify every bucket.",
        Arity = ArgumentArity.ZeroOrOne,
    };

    private static readonly Option<bool> All = new("--all")
    {
        Description = "Verify every bucket (runs, sessions, unscoped) and the signed bucket index.",
    };

    private static readonly Option<string?> PublicKey = new("--public-key")
    {
        Description = "Pin the ledger's Ed25519 public key (64 hex characters, from 'audit public-key'): every signature must be by it. Detects a ledger re-signed with another key.",
    };

    private static readonly Option<string?> PublicKeyFile = new("--public-key-file")
    {
        Description = "Read the pinned public key (64 hex characters) from this file instead of --public-key.",
    };

    private static readonly Option<string?> SinceCheckpoint = new("--since-checkpoint")
    {
        Description = "A transparency-log checkpoint kept outside the state root (e.g. yesterday's external-action-log/checkpoint): fail unless the log extends it (detects a rollback to a backup, or a fork).",
    };

    private static readonly Argument<string> ProveActionId = new("action_id")
    {
        Description = "The record's action_id (64 hex characters; the X-Kheish-Action-Id response header).",
    };

    private static readonly Argument<string> ListRunId = new("run_id")
    {
        Description = "The run whose external actions to list.",
    };

    /// <summary>
    /// The online path of <c>runs external-actions</c>: GET /v1/runs/{run_id}/external-actions
    /// on the daemon (a read-only token suffices).
    /// </summary>
    private static async Task<Result<ExternalActionsListing>> OnlineExternalActionsAsync(ParseResult parseResult, string runId, CancellationToken ct)
    {
        Result<Client.DaemonClient> client = CommonOptions.CreateClient(parseResult);
        if (!client.TryGetValue(out Client.DaemonClient? daemon, out KheishError? error))
        {
            return error;
        }

        using (daemon)
        {
            return await daemon.GetAsync(
                $"/v1/runs/{Uri.EscapeDataString(runId)}/external-actions", AuditJsonContext.Default.ExternalActionsListing, ct).ConfigureAwait(false);
        }
    }

    public static Command Create()
    {
        var command = new Command("runs", "Inspect runs: the external actions they made and the integrity of their signed ledger.");
        command.Subcommands.Add(CreateVerify());
        command.Subcommands.Add(CreateExternalActions());
        command.Subcommands.Add(CreateProve());
        return command;
    }

    private static Command CreateProve()
    {
        var prove = new Command(
            "prove",
            "Print the C2SP tlog-proof receipt of one ledger record: the signed checkpoint, the record's leaf index, its inclusion proof, " +
            "and the record line itself as extra data. Available once the next checkpoint is out (at most ~1 s after the append). " +
            "Check it with 'audit verify-proof'.");
        prove.Arguments.Add(ProveActionId);
        CommonOptions.AddClientOptions(prove);
        prove.SetAction(RunProveAsync);
        return prove;
    }

    private static async Task<int> RunProveAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        bool json = CommonOptions.IsJson(parseResult);
        string actionId = parseResult.GetValue(ProveActionId)!.Trim();
        if (Core.Transparency.ActionKey.TryParseHex(actionId) is null)
        {
            return CliOutput.Fail(KheishError.BadRequest("invalid_action_id", "an action id is 64 lowercase hex characters (the record's action_id)"), json);
        }

        Result<Core.Transparency.TlogProof> proof;
        if (parseResult.GetValue(CommonOptions.Offline))
        {
            StateRoot root = CommonOptions.GetStateRoot(parseResult);
            Result<byte[]> key = TransparencyCli.LogKey(root, null);
            if (!key.TryGetValue(out byte[]? publicKey, out KheishError? keyError))
            {
                return CliOutput.Fail(keyError, json);
            }

            proof = Core.Transparency.LogState.Load(root, publicKey).Prove(root, actionId);
        }
        else
        {
            Result<Client.DaemonClient> client = CommonOptions.CreateClient(parseResult);
            if (!client.TryGetValue(out Client.DaemonClient? daemon, out KheishError? clientError))
            {
                return CliOutput.Fail(clientError, json);
            }

            using (daemon)
            {
                Result<string> text = await daemon.GetTextAsync($"/v1/audit/proof/{Uri.EscapeDataString(actionId)}", cancellationToken).ConfigureAwait(false);
                proof = text.TryGetValue(out string? body, out KheishError? getError)
                    ? Core.Transparency.TlogProof.TryParse(body, out string? parseError) is { } parsed
                        ? parsed
                        : new KheishError("schema_mismatch", ErrorKind.SchemaMismatch, $"the daemon answered something that is not a tlog-proof ({parseError})")
                    : getError;
            }
        }

        if (!proof.TryGetValue(out Core.Transparency.TlogProof? receipt, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        if (json)
        {
            CliOutput.WriteJson(TransparencyCli.Describe(receipt, actionId), AuditJsonContext.Default.ReceiptOutput);
        }
        else
        {
            CliOutput.Out.Write(receipt.Format());
        }

        return ExitCodes.Ok;
    }

    private static Command CreateVerify()
    {
        var verify = new Command(
            "verify",
            "Verify the signed external-action ledger offline: hashes, prev_hash links, Ed25519 signatures, checkpoints and the bucket index. " +
            "Prints OK with counts (exit 0) or the first bad record (exit 1).");
        verify.Arguments.Add(VerifyRunId);
        verify.Options.Add(All);
        verify.Options.Add(PublicKey);
        verify.Options.Add(PublicKeyFile);
        verify.Options.Add(SinceCheckpoint);
        // Accepted like on every other state-root verb; verify always reads the files directly.
        verify.Options.Add(CommonOptions.Offline);
        verify.SetAction((parseResult, _) => Task.FromResult(RunVerify(parseResult)));
        return verify;
    }

    private static Command CreateExternalActions()
    {
        var list = new Command("external-actions", "List a run's external actions (signed ledger records), oldest first.");
        list.Arguments.Add(ListRunId);
        CommonOptions.AddClientOptions(list);
        list.SetAction(RunExternalActionsAsync);
        return list;
    }

    private static int RunVerify(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        string? runId = parseResult.GetValue(VerifyRunId);
        bool all = parseResult.GetValue(All);
        if (all == (runId is not null))
        {
            return CliOutput.Fail(KheishError.BadRequest("bad_arguments", "pass either a run id or --all"), json);
        }

        Result<string?> pinned = ReadPinnedKey(parseResult);
        if (!pinned.TryGetValue(out string? pinnedKey, out KheishError? pinError))
        {
            return CliOutput.Fail(pinError, json);
        }

        StateRoot root = CommonOptions.GetStateRoot(parseResult);
        Result<VerifyReport> result = LedgerVerifier.Verify(root, runId, pinnedKey);
        if (!result.TryGetValue(out VerifyReport? report, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        if (pinnedKey is not null && report.Buckets == 0)
        {
            // A CI check pinned to a key expects records signed by it: an empty or wrong path must not pass.
            return CliOutput.Fail(KheishError.NotFound("ledger_missing",
                $"no external-action ledger under {new LedgerPaths(root).RecordsDirectory}, but --public-key pins a signer: nothing was verified; check --state-root"), json);
        }

        if (parseResult.GetValue(SinceCheckpoint) is { } keptFile)
        {
            if (!all)
            {
                return CliOutput.Fail(KheishError.BadRequest("bad_arguments", "--since-checkpoint checks the whole log: pass --all"), json);
            }

            Result<byte[]> kept = TransparencyCli.ReadFile(keptFile, "checkpoint");
            Result<byte[]> key = kept.IsOk ? TransparencyCli.LogKey(root, pinnedKey) : kept;
            if (!kept.TryGetValue(out byte[]? keptNote, out KheishError? keptError) || !key.TryGetValue(out byte[]? logKey, out keptError))
            {
                return CliOutput.Fail(keptError, json);
            }

            Result<Core.Transparency.ConsistencyReport> consistency = Core.Transparency.ConsistencyCheck.Run(root, logKey, keptNote);
            if (!consistency.TryGetValue(out Core.Transparency.ConsistencyReport? cr, out KheishError? crError))
            {
                return CliOutput.Fail(crError, json);
            }

            if (!report.Ok)
            {
                // The ledger itself is bad: that is the first failure to report.
                if (json)
                {
                    CliOutput.WriteJson(report, AuditJsonContext.Default.VerifyReport);
                }
                else
                {
                    WriteVerifyReport(report, new LedgerPaths(root));
                }

                return ExitCodes.HealthError;
            }

            if (!json)
            {
                WriteVerifyReport(report, new LedgerPaths(root));
            }

            return TransparencyCli.WriteConsistency(cr, json, proofLines: false);
        }

        if (json)
        {
            CliOutput.WriteJson(report, AuditJsonContext.Default.VerifyReport);
        }
        else
        {
            WriteVerifyReport(report, new LedgerPaths(root));
        }

        return report.Ok ? ExitCodes.Ok : ExitCodes.HealthError;
    }

    private static void WriteVerifyReport(VerifyReport report, LedgerPaths paths)
    {
        if (report.Ok && report.Buckets == 0)
        {
            CliOutput.Out.WriteLine($"OK: no external-action ledger under {paths.RecordsDirectory} (nothing recorded yet, or everything was deleted)");
            return;
        }

        string keys = report.PinnedKeyId is not null
            ? $"signed by pinned key {report.PinnedKeyId}"
            : report.KeyIds.Count == 1 ? $"signed by key {report.KeyIds[0]} (not pinned: pass --public-key to detect re-signing)" : "no signing key seen";
        if (report.Ok)
        {
            CliOutput.Out.WriteLine($"OK: {report.Buckets} bucket(s), {report.Records} record(s) verified; {keys}");
            foreach (BucketVerification b in report.Results)
            {
                string torn = b.TornTailBytes > 0 ? $", {b.TornTailBytes} byte(s) of an unacknowledged torn write at the end" : "";
                CliOutput.Out.WriteLine($"  {LedgerChecks.Printable(b.Bucket)}: {b.Records} record(s), checkpoint {b.CheckpointRecords?.ToString(CultureInfo.InvariantCulture) ?? "none"}{torn}");
            }

            return;
        }

        VerifyFailure f = report.FirstFailure!;
        string where = f.Index is { } index ? $", record {index} (line {f.Line})" : "";
        CliOutput.Out.WriteLine($"FAILED: bucket {LedgerChecks.Printable(report.FirstFailureBucket)}{where}: {f.Code}: {f.Reason}");
        int bad = report.Results.Count(r => !r.Ok);
        CliOutput.Out.WriteLine($"  {report.Buckets} bucket(s) checked, {bad} failed, {report.Records} record(s) read");
    }

    private static Result<string?> ReadPinnedKey(ParseResult parseResult)
    {
        string? inline = parseResult.GetValue(PublicKey);
        string? file = parseResult.GetValue(PublicKeyFile);
        if (inline is not null && file is not null)
        {
            return KheishError.BadRequest("bad_arguments", "pass --public-key or --public-key-file, not both");
        }

        if (file is not null)
        {
            try
            {
                inline = File.ReadAllText(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return KheishError.BadRequest("invalid_public_key", $"cannot read --public-key-file '{file}' ({Kheish.Core.Errors.IoReason.Of(ex)})");
            }
        }

        return inline?.Trim().ToLowerInvariant();
    }

    private static async Task<int> RunExternalActionsAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        bool json = CommonOptions.IsJson(parseResult);
        string runId = parseResult.GetValue(ListRunId)!;
        Result<ExternalActionsListing> listing;
        if (parseResult.GetValue(CommonOptions.Offline))
        {
            var paths = new LedgerPaths(CommonOptions.GetStateRoot(parseResult));
            Result<IReadOnlyList<LedgerRecord>> records = LedgerReader.ReadBucket(paths, runId);
            listing = records.TryGetValue(out IReadOnlyList<LedgerRecord>? list, out KheishError? readError)
                ? new ExternalActionsListing(runId, list.Count, list)
                : readError;
        }
        else
        {
            listing = await OnlineExternalActionsAsync(parseResult, runId, cancellationToken).ConfigureAwait(false);
        }

        if (!listing.TryGetValue(out ExternalActionsListing? value, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        if (json)
        {
            CliOutput.WriteJson(value, AuditJsonContext.Default.ExternalActionsListing);
            return ExitCodes.Ok;
        }

        CliOutput.Out.WriteLine($"{value.Count} external action record(s) for run {LedgerChecks.Printable(runId)}");
        foreach (LedgerRecord r in value.ExternalActions)
        {
            string time = DateTimeOffset.FromUnixTimeMilliseconds(r.TimestampMs).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
            string outcome = r.Outcome is null ? "" : $" outcome={LedgerChecks.Printable(r.Outcome)}";
            CliOutput.Out.WriteLine($"{time}  {r.Phase,-9} {LedgerChecks.Printable(r.Kind)} {LedgerChecks.Printable(r.Target)}{outcome}  action_id={r.ActionId}");
        }

        return ExitCodes.Ok;
    }
}
