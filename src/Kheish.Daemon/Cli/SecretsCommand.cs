using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;
using Kheish.Daemon.Cli.Secrets;

namespace Kheish.Daemon.Cli;

/// <summary>
/// <c>kheish-daemon secrets generate|set|list|get|delete|rekey</c>: the encrypted secret store.
/// Values come in through exactly one source and never come out: every output is metadata.
/// </summary>
internal static class SecretsCommand
{
    private static readonly Argument<string> Ref = new("ref")
    {
        Description = "Slot id: 1-128 characters from A-Z a-z 0-9 . _ : - (no leading '.', no '..').",
    };

    private static readonly Option<string> Provider = CreateProvider();

    private static readonly Option<string?> Mode = CreateMode();

    private static readonly Option<string?> FromEnv = new("--from-env")
    {
        Description = "Read the value from this environment variable (keeps it out of argv).",
    };

    private static readonly Option<string?> FromFile = new("--from-file")
    {
        Description = "Read the value from this file; one trailing newline is dropped.",
    };

    private static readonly Option<bool> Stdin = new("--stdin")
    {
        Description = "Read the value from standard input; one trailing newline is dropped.",
    };

    private static readonly Option<string?> Value = new("--value")
    {
        Description = "The value itself. Discouraged: argv is visible to other processes (ps, /proc); prefer --from-env, --from-file or --stdin.",
    };

    public static Command Create()
    {
        var command = new Command("secrets", "Manage encrypted secret slots (provider keys, tokens). Reads show metadata only, never values.");
        command.Subcommands.Add(CreateGenerate());
        command.Subcommands.Add(CreateSet());
        command.Subcommands.Add(CreateList());
        command.Subcommands.Add(CreateGet());
        command.Subcommands.Add(CreateDelete());
        command.Subcommands.Add(CreateRekey());
        command.Subcommands.Add(AccountImportCommands.CreateCodex());
        command.Subcommands.Add(AccountImportCommands.CreateClaudeCode());
        return command;
    }

    /// <summary>
    /// The one place that decides where the verbs act: --offline works on the state-root files,
    /// otherwise (the default) the verbs talk to the running daemon's control plane.
    /// </summary>
    internal static Result<ISecretsBackend> ChooseBackend(ParseResult parseResult)
    {
        if (parseResult.GetValue(CommonOptions.Offline))
        {
            return new OfflineSecretsBackend(CommonOptions.GetStateRoot(parseResult), Environment.GetEnvironmentVariable);
        }

        Result<Client.DaemonClient> client = CommonOptions.CreateClient(parseResult);
        return client.IsOk ? new OnlineSecretsBackend(client.Value) : client.Error;
    }

    private static Command CreateGenerate()
    {
        var generate = new Command("generate", "Print a new random 32-byte master key (base64) for KHEISH_AUTH_STORE_MASTER_KEY.");
        generate.SetAction(parseResult =>
        {
            MasterKey key = MasterKey.Generate();
            string encoded = Convert.ToBase64String(key.Bytes);
            if (CommonOptions.IsJson(parseResult))
            {
                CliOutput.WriteJson(new MasterKeyOutput(encoded, key.KeyId), SecretsCliJsonContext.Default.MasterKeyOutput);
            }
            else
            {
                CliOutput.Out.WriteLine(encoded);
            }

            return ExitCodes.Ok;
        });
        return generate;
    }

    private static Command CreateSet()
    {
        var set = new Command("set", "Create or replace a slot. Give the value through exactly one of --from-env, --from-file, --stdin, --value.");
        set.Arguments.Add(Ref);
        set.Options.Add(Provider);
        set.Options.Add(Mode);
        set.Options.Add(FromEnv);
        set.Options.Add(FromFile);
        set.Options.Add(Stdin);
        set.Options.Add(Value);
        CommonOptions.AddClientOptions(set);
        set.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            Result<SlotRecord> record = BuildRecord(parseResult);
            if (!record.IsOk)
            {
                return CliOutput.Fail(record.Error, json);
            }

            Result<ISecretsBackend> backend = ChooseBackend(parseResult);
            if (!backend.IsOk)
            {
                return CliOutput.Fail(backend.Error, json);
            }

            Result<SlotStatus> stored = await backend.Value.SetAsync(record.Value, ct).ConfigureAwait(false);
            if (!stored.IsOk)
            {
                return CliOutput.Fail(stored.Error, json);
            }

            if (json)
            {
                CliOutput.WriteJson(stored.Value, SecretsCliJsonContext.Default.SlotStatus);
            }
            else
            {
                CliOutput.Out.WriteLine($"stored {stored.Value.SlotId} ({stored.Value.Provider.Name()}, {stored.Value.Mode.Name()})");
            }

            return ExitCodes.Ok;
        });
        return set;
    }

    private static Command CreateList()
    {
        var list = new Command("list", "List every slot: id, provider, mode, summary, last update. Never values.");
        CommonOptions.AddClientOptions(list);
        list.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            Result<ISecretsBackend> backend = ChooseBackend(parseResult);
            if (!backend.IsOk)
            {
                return CliOutput.Fail(backend.Error, json);
            }

            Result<IReadOnlyList<SlotStatus>> slots = await backend.Value.ListAsync(ct).ConfigureAwait(false);
            if (!slots.IsOk)
            {
                return CliOutput.Fail(slots.Error, json);
            }

            if (json)
            {
                CliOutput.WriteJson(new SlotListOutput(slots.Value), SecretsCliJsonContext.Default.SlotListOutput);
            }
            else
            {
                WriteTable(slots.Value);
            }

            return ExitCodes.Ok;
        });
        return list;
    }

    private static Command CreateGet()
    {
        var get = new Command("get", "Show one slot's metadata (never its value). Exit 5 when it does not exist.");
        get.Arguments.Add(Ref);
        CommonOptions.AddClientOptions(get);
        get.SetAction((parseResult, ct) => WithSlotAsync(parseResult, async (id, backend, json) =>
        {
            Result<SlotStatus> status = await backend.GetAsync(id, ct).ConfigureAwait(false);
            if (!status.IsOk)
            {
                return CliOutput.Fail(status.Error, json);
            }

            if (json)
            {
                CliOutput.WriteJson(status.Value, SecretsCliJsonContext.Default.SlotStatus);
            }
            else
            {
                SlotStatus s = status.Value;
                CliOutput.Out.WriteLine($"slot_id:    {s.SlotId}");
                CliOutput.Out.WriteLine($"provider:   {s.Provider.Name()}");
                CliOutput.Out.WriteLine($"mode:       {s.Mode.Name()}");
                CliOutput.Out.WriteLine($"summary:    {s.Summary}");
                CliOutput.Out.WriteLine($"updated_at: {FormatTime(s.UpdatedAtMs)}");
                foreach (var (key, value) in (s.Details ?? []).OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    CliOutput.Out.WriteLine($"  {key}: {value}");
                }
            }

            return ExitCodes.Ok;
        }));
        return get;
    }

    /// <summary>Parses the slot ref and chooses the backend, reporting either failure; then runs the verb.</summary>
    private static Task<int> WithSlotAsync(ParseResult parseResult, Func<SlotId, ISecretsBackend, bool, Task<int>> run)
    {
        bool json = CommonOptions.IsJson(parseResult);
        if (!SlotId.Parse(parseResult.GetValue(Ref)).TryGetValue(out SlotId id, out KheishError? error))
        {
            return Task.FromResult(CliOutput.Fail(error, json));
        }

        return ChooseBackend(parseResult).TryGetValue(out ISecretsBackend? backend, out error)
            ? run(id, backend, json)
            : Task.FromResult(CliOutput.Fail(error, json));
    }

    private static Command CreateDelete()
    {
        var delete = new Command("delete", "Delete a slot. Exit 5 when it does not exist.");
        delete.Arguments.Add(Ref);
        CommonOptions.AddClientOptions(delete);
        delete.SetAction((parseResult, ct) => WithSlotAsync(parseResult, async (id, backend, json) =>
        {
            Result<bool> deleted = await backend.DeleteAsync(id, ct).ConfigureAwait(false);
            if (!deleted.IsOk)
            {
                return CliOutput.Fail(deleted.Error, json);
            }

            if (!deleted.Value)
            {
                return CliOutput.Fail(OfflineSecretsBackend.NotFound(id), json);
            }

            if (json)
            {
                CliOutput.WriteJson(new SlotDeletedOutput(id.Value, true), SecretsCliJsonContext.Default.SlotDeletedOutput);
            }
            else
            {
                CliOutput.Out.WriteLine($"deleted {id}");
            }

            return ExitCodes.Ok;
        }));
        return delete;
    }

    private static Command CreateRekey()
    {
        var rekey = new Command(
            "rekey",
            $"Re-encrypt every encrypted state file from {MasterKey.ValueVariable}[_FILE] to {MasterKey.NewValueVariable}[_FILE]. " +
            "Offline only (the daemon must be stopped). If interrupted, run it again to finish.");
        // Offline only: the client options (--base-url, --token...) would do nothing here.
        rekey.Options.Add(CommonOptions.Offline);
        rekey.SetAction(parseResult =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            Result<RekeyReport> report = Rekey(parseResult);
            if (!report.IsOk)
            {
                return CliOutput.Fail(report.Error, json);
            }

            RekeyReport r = report.Value;
            if (json)
            {
                CliOutput.WriteJson(new RekeyOutput(r.Rekeyed, r.AlreadyCurrent, r.OldKeyId, r.NewKeyId), SecretsCliJsonContext.Default.RekeyOutput);
            }
            else
            {
                CliOutput.Out.WriteLine(
                    $"rekeyed {r.Rekeyed} file(s), {r.AlreadyCurrent} already under the new key ({r.OldKeyId} -> {r.NewKeyId}). " +
                    $"Now set {MasterKey.ValueVariable} to the new key.");
            }

            return ExitCodes.Ok;
        });
        return rekey;
    }

    private static Result<RekeyReport> Rekey(ParseResult parseResult)
    {
        if (!parseResult.GetValue(CommonOptions.Offline))
        {
            return KheishError.BadRequest(
                "rekey_needs_offline",
                "rekey rewrites the state-root files directly: stop the daemon and run `kheish-daemon secrets rekey --offline`");
        }

        Result<MasterKey?> current = MasterKey.FromEnvironment(Environment.GetEnvironmentVariable);
        if (!current.IsOk)
        {
            return current.Error;
        }

        Result<MasterKey?> next = MasterKey.NewFromEnvironment(Environment.GetEnvironmentVariable);
        if (!next.IsOk)
        {
            return next.Error;
        }

        if (current.Value is null)
        {
            return KheishError.Misconfigured(
                "master_key_required",
                $"rekey needs the current key in {MasterKey.ValueVariable} (or {MasterKey.FileVariable})");
        }

        if (next.Value is null)
        {
            return KheishError.Misconfigured(
                "new_master_key_required",
                $"rekey needs the new key in {MasterKey.NewValueVariable} (or {MasterKey.NewFileVariable}); make one with `kheish-daemon secrets generate`");
        }

        StateRoot root = CommonOptions.GetStateRoot(parseResult);
        Result<DaemonLock> held = DaemonLock.TryAcquire(root, OfflineSecretsBackend.LockedHint);
        if (!held.IsOk)
        {
            return held.Error;
        }

        using DaemonLock daemonLock = held.Value;

        // Check every file before writing any: the journal fold below is a write.
        if (EnvelopeRekey.Check(root, current.Value, next.Value) is { } damaged)
        {
            return damaged;
        }

        // The broker journal is a file of envelope lines, which the envelope scan does not
        // re-encrypt: fold it into the snapshot (under the current key) first.
        string journal = Core.Broker.BrokerStateStore.JournalPathFor(root.BrokerStateFile);
        if (File.Exists(journal) && new FileInfo(journal).Length > 0)
        {
            Result<Core.Broker.CredentialBroker> broker = Core.Broker.CredentialBroker.Open(root, new EnvelopeStateFileCodec(current.Value, root));
            if (!broker.IsOk)
            {
                return broker.Error;
            }

            using Core.Broker.CredentialBroker compacting = broker.Value;
            if (compacting.Flush() is { } flushError)
            {
                return flushError;
            }
        }

        return EnvelopeRekey.Run(root, current.Value, next.Value);
    }

    private static Result<SlotRecord> BuildRecord(ParseResult parseResult)
    {
        Result<SlotId> id = SlotId.Parse(parseResult.GetValue(Ref));
        if (!id.IsOk)
        {
            return id.Error;
        }

        SlotProvider provider = SlotNames.ParseProvider(parseResult.GetValue(Provider))!.Value;
        string? modeName = parseResult.GetValue(Mode);
        SlotMode mode = modeName is null ? SlotNames.DefaultMode(provider) : SlotNames.ParseMode(modeName)!.Value;

        Result<string> value = ReadValue(parseResult);
        if (!value.IsOk)
        {
            return value.Error;
        }

        SlotRecord record;
        if (mode == SlotMode.OauthAccount)
        {
            Result<JsonElement> state = ParseAccountState(value.Value);
            if (!state.IsOk)
            {
                return state.Error;
            }

            record = new SlotRecord(id.Value, provider, mode, state.Value, 0);
        }
        else
        {
            record = SlotRecord.WithSecret(id.Value, provider, mode, value.Value, 0);
        }

        return record.Validate() is { } invalid ? invalid : record;
    }

    private static Result<string> ReadValue(ParseResult parseResult)
    {
        var given = new List<string>();
        if (parseResult.GetValue(FromEnv) is not null)
        {
            given.Add("--from-env");
        }

        if (parseResult.GetValue(FromFile) is not null)
        {
            given.Add("--from-file");
        }

        if (parseResult.GetValue(Stdin))
        {
            given.Add("--stdin");
        }

        if (parseResult.GetValue(Value) is not null)
        {
            given.Add("--value");
        }

        if (given.Count != 1)
        {
            return KheishError.BadRequest(
                "secret_source_ambiguous",
                given.Count == 0
                    ? "give the value through exactly one of --from-env VAR, --from-file PATH, --stdin, --value"
                    : $"{string.Join(" and ", given)} were {(given.Count == 2 ? "both" : "all")} given; give the value through exactly one source");
        }

        return given[0] switch
        {
            "--from-env" => SecretValueSource.FromEnv(parseResult.GetValue(FromEnv)!, Environment.GetEnvironmentVariable),
            "--from-file" => SecretValueSource.FromFile(parseResult.GetValue(FromFile)!),
            "--stdin" => ReadStdin(),
            _ => WarnAndTake(parseResult.GetValue(Value)!),
        };
    }

    private static Result<string> ReadStdin()
    {
        using Stream input = Console.OpenStandardInput();
        return SecretValueSource.FromStream(input, "standard input");
    }

    private static Result<string> WarnAndTake(string value)
    {
        CliOutput.Warn("--value puts the secret in argv, which other processes on this machine can read (ps, /proc/<pid>/cmdline); prefer --from-env, --from-file or --stdin");
        return SecretValueSource.FromArgument(value);
    }

    private static Result<JsonElement> ParseAccountState(string value)
    {
        try
        {
            using var document = JsonDocument.Parse(value);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return KheishError.BadRequest("invalid_slot_state", "an oauth_account value must be a JSON object (the account state)");
            }

            return document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            return KheishError.BadRequest(
                "invalid_slot_state",
                $"an oauth_account value must be a JSON object; it does not parse (line {(ex.LineNumber ?? 0) + 1})");
        }
    }

    private static void WriteTable(IReadOnlyList<SlotStatus> slots)
    {
        if (slots.Count == 0)
        {
            CliOutput.Out.WriteLine("no slots");
            return;
        }

        string[] header = ["SLOT", "PROVIDER", "MODE", "SUMMARY", "UPDATED"];
        var rows = slots.Select(s => new[] { s.SlotId, s.Provider.Name(), s.Mode.Name(), s.Summary, FormatTime(s.UpdatedAtMs) }).ToList();
        int[] widths = [.. Enumerable.Range(0, header.Length).Select(i => Math.Max(header[i].Length, rows.Max(r => r[i].Length)))];
        // One write for the whole table: Console.Out flushes every line, a syscall each.
        var table = new System.Text.StringBuilder();
        foreach (string[] row in rows.Prepend(header))
        {
            table.AppendJoin("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))).Append('\n');
        }

        CliOutput.Out.Write(table.ToString());
    }

    private static string FormatTime(long ms) =>
        DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    private static Option<string> CreateProvider()
    {
        var option = new Option<string>("--provider")
        {
            Description = "Who the credential is for: " + string.Join(", ", SlotNames.Providers) + ".",
            Required = true,
        };
        option.AcceptOnlyFromAmong([.. SlotNames.Providers]);
        return option;
    }

    private static Option<string?> CreateMode()
    {
        var option = new Option<string?>("--mode")
        {
            Description = "Slot mode: opaque_secret (generic), api_key (default for model providers), " +
                "oauth_account (value is the account state as a JSON object; default for mcp_oauth).",
        };
        option.AcceptOnlyFromAmong([.. SlotNames.Modes]);
        return option;
    }
}
