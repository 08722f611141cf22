using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Kheish.Core.Errors;
using Kheish.Core.Mcp;
using Kheish.Core.Policy;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;
using Kheish.Daemon.Cli.Secrets;
using Kheish.Daemon.Http;
using Kheish.Daemon.Http.Mcp;

namespace Kheish.Daemon.Cli;

internal sealed record McpCatalogOutput(IReadOnlyList<McpCatalogEntryOutput> Entries);

internal sealed record McpCatalogEntryOutput(string Id, string Description, string Command, IReadOnlyList<string> Args, IReadOnlyList<string> Slots);

internal sealed record McpSlotOutput(string Env, string SlotId, bool Set);

internal sealed record McpSlotsOutput(string Entry, IReadOnlyList<McpSlotOutput> Slots);

internal sealed record McpCheckOutput(string Source, bool Ok, IReadOnlyList<string> Servers, IReadOnlyList<McpProblem> Problems);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(McpCatalogOutput))]
[JsonSerializable(typeof(McpSlotsOutput))]
[JsonSerializable(typeof(McpCheckOutput))]
[JsonSerializable(typeof(SlotStatus))]
[JsonSerializable(typeof(string[]))]
internal sealed partial class McpCliJsonContext : JsonSerializerContext;

/// <summary>
/// <c>kheish-daemon mcp auth catalog|slots|set</c>, <c>mcp servers list|add|remove</c>,
/// <c>mcp check F</c> and <c>mcp call &lt;server&gt;__&lt;tool&gt;</c>.
/// </summary>
internal static class McpCommand
{
    private static readonly Argument<string> Entry = new("entry") { Description = "Catalog entry id (see 'mcp auth catalog'), e.g. linear." };

    private static readonly Option<string?> CredentialEnv = new("--credential-env")
    {
        Description = "Which of the entry's credential variables to set (needed when it has more than one).",
    };

    private static readonly Option<string?> FromEnv = new("--from-env") { Description = "Read the value from this environment variable (keeps it out of argv)." };
    private static readonly Option<string?> FromFile = new("--from-file") { Description = "Read the value from this file; one trailing newline is dropped." };
    private static readonly Option<bool> Stdin = new("--stdin") { Description = "Read the value from standard input; one trailing newline is dropped." };
    private static readonly Option<string?> Value = new("--value") { Description = "The value itself. Discouraged: argv is visible to other processes." };

    private static readonly Argument<string> File = new("file") { Description = "TOML file of [mcp_servers.<name>] tables." };

    private static readonly Argument<string> ServerName = new("name") { Description = "Server name (letters, digits, '-', '_'; tools appear as <name>__<tool>)." };
    private static readonly Option<string?> Catalog = new("--catalog") { Description = "Start from this catalog entry (command, args and credential slots)." };
    private static readonly Option<string?> Command = new("--command") { Description = "stdio: the program to run." };
    private static readonly Option<string[]> Arg = new("--arg") { Description = "stdio: one argument (repeatable, in order).", AllowMultipleArgumentsPerToken = false };
    private static readonly Option<string[]> Env = new("--env") { Description = "stdio: NAME=VALUE plain variable (repeatable).", AllowMultipleArgumentsPerToken = false };
    private static readonly Option<string[]> EnvSecretRef = new("--env-secret-ref") { Description = "stdio: NAME=SLOT, the variable's value comes from the slot (repeatable).", AllowMultipleArgumentsPerToken = false };
    private static readonly Option<string?> Cwd = new("--cwd") { Description = "stdio: absolute working directory." };
    private static readonly Option<string?> Url = new("--url") { Description = "HTTP: the server's streamable HTTP endpoint." };
    private static readonly Option<string?> BearerRef = new("--bearer-token-secret-ref") { Description = "HTTP: slot whose value is sent as Authorization: Bearer." };
    private static readonly Option<string[]> HeaderRef = new("--header-secret-ref") { Description = "HTTP: Header=SLOT (repeatable).", AllowMultipleArgumentsPerToken = false };
    private static readonly Option<string[]> Header = new("--header") { Description = "HTTP: Header=VALUE plain header (repeatable).", AllowMultipleArgumentsPerToken = false };
    private static readonly Option<int?> StartupTimeout = new("--startup-timeout-sec") { Description = "Seconds to wait for the MCP handshake (default 30)." };
    private static readonly Option<int?> ToolTimeout = new("--tool-timeout-sec") { Description = "Seconds to wait for one tool call (default 120)." };
    private static readonly Option<string[]> ToolPolicyRule = new("--tool-policy")
    {
        Description = "TOOL=allow|deny|approve for an upstream tool name or '*' glob (repeatable; most specific key wins, default allow), e.g. --tool-policy 'delete_*=deny' --tool-policy echo=approve.",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<int?> ApprovalTimeout = new("--approval-timeout-sec") { Description = "Seconds an 'approve' call waits for 'kheish-daemon approvals approve|deny' (default 300)." };

    private static readonly Option<string[]> Hook = new("--hook")
    {
        Description = "NAME=COMMAND, a policy hook a 'hook:NAME' --tool-policy value asks about each call (repeatable). COMMAND is a program path, "
            + "or a JSON array of the program and its arguments (no shell), e.g. --hook 'check=[\"/usr/local/bin/check-call\",\"--strict\"]'.",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<string[]> HookTimeout = new("--hook-timeout-ms")
    {
        Description = "NAME=MS, how long that hook may take to answer (default 5000, at most 60000; repeatable).",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Argument<string> Tool = new("tool") { Description = "Qualified tool name <server>__<tool>." };
    private static readonly Option<string?> ArgsJson = new("--args-json") { Description = "The tool's arguments as a JSON object, e.g. '{\"message\":\"hi\"}'." };

    public static Command Create()
    {
        var mcp = new Command("mcp", "MCP servers: credential slots, definitions, validation and tool calls through the daemon.");
        var auth = new Command("auth", "Credentials of catalog MCP servers, stored in generic slots mcp.<entry>.<ENV>.");
        auth.Subcommands.Add(CreateCatalog());
        auth.Subcommands.Add(CreateSlots());
        auth.Subcommands.Add(CreateSet());
        mcp.Subcommands.Add(auth);
        mcp.Subcommands.Add(McpOauthCommand.Create());
        var servers = new Command("servers", "Daemon-managed server definitions (mcp-servers.json; secrets by slot reference only).");
        servers.Subcommands.Add(CreateList());
        servers.Subcommands.Add(CreateAdd());
        servers.Subcommands.Add(CreateRemove());
        mcp.Subcommands.Add(servers);
        mcp.Subcommands.Add(CreateCheck());
        mcp.Subcommands.Add(CreateCall());
        return mcp;
    }

    // ------------------------------------------------------------------ auth

    private static Command CreateCatalog()
    {
        var catalog = new Command("catalog", "List the MCP servers compiled into this binary, how each is launched and its credential slots.");
        catalog.SetAction(parseResult =>
        {
            var entries = McpCatalog.Entries.Select(e => new McpCatalogEntryOutput(e.Id, e.Description, e.Command, e.Args, [.. e.CredentialEnv.Select(e.SlotFor)])).ToList();
            if (CommonOptions.IsJson(parseResult))
            {
                CliOutput.WriteJson(new McpCatalogOutput(entries), McpCliJsonContext.Default.McpCatalogOutput);
                return ExitCodes.Ok;
            }

            foreach (McpCatalogEntryOutput e in entries)
            {
                CliOutput.Out.WriteLine($"{e.Id,-14} {e.Description}");
                CliOutput.Out.WriteLine($"{"",-14} run: {e.Command} {string.Join(' ', e.Args)}");
                CliOutput.Out.WriteLine($"{"",-14} slots: {(e.Slots.Count == 0 ? "(none)" : string.Join(", ", e.Slots))}");
            }

            return ExitCodes.Ok;
        });
        return catalog;
    }

    private static Command CreateSlots()
    {
        var slots = new Command("slots", "List an entry's slots (mcp.<entry>.<ENV>) and whether each is set. Never values.");
        slots.Arguments.Add(Entry);
        CommonOptions.AddClientOptions(slots);
        slots.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (!FindEntry(parseResult).TryGetValue(out McpCatalogEntry? entry, out KheishError? error)
                || !SecretsCommand.ChooseBackend(parseResult).TryGetValue(out ISecretsBackend? backend, out error))
            {
                return CliOutput.Fail(error!, json);
            }

            if (!(await backend.ListAsync(ct).ConfigureAwait(false)).TryGetValue(out IReadOnlyList<SlotStatus>? all, out KheishError? listError))
            {
                return CliOutput.Fail(listError, json);
            }

            var output = new McpSlotsOutput(entry.Id, [.. entry.CredentialEnv.Select(env =>
                new McpSlotOutput(env, entry.SlotFor(env), all.Any(s => s.SlotId == entry.SlotFor(env))))]);
            if (json)
            {
                CliOutput.WriteJson(output, McpCliJsonContext.Default.McpSlotsOutput);
            }
            else if (output.Slots.Count == 0)
            {
                CliOutput.Out.WriteLine($"{entry.Id} needs no credentials");
            }
            else
            {
                foreach (McpSlotOutput s in output.Slots)
                {
                    CliOutput.Out.WriteLine($"{s.SlotId,-48} {(s.Set ? "set" : "not set")}");
                }
            }

            return ExitCodes.Ok;
        });
        return slots;
    }

    private static Command CreateSet()
    {
        var set = new Command("set", "Store an entry's credential in its generic slot mcp.<entry>.<ENV>. Give the value through exactly one of --from-env, --from-file, --stdin, --value.");
        set.Arguments.Add(Entry);
        set.Options.Add(CredentialEnv);
        set.Options.Add(FromEnv);
        set.Options.Add(FromFile);
        set.Options.Add(Stdin);
        set.Options.Add(Value);
        CommonOptions.AddClientOptions(set);
        set.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (!FindEntry(parseResult).TryGetValue(out McpCatalogEntry? entry, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            string? env = parseResult.GetValue(CredentialEnv);
            if (env is null)
            {
                if (entry.CredentialEnv.Count != 1)
                {
                    return CliOutput.Fail(KheishError.BadRequest("credential_env_required", entry.CredentialEnv.Count == 0
                        ? $"catalog entry `{entry.Id}` takes no credentials"
                        : $"catalog entry `{entry.Id}` has several credentials; choose one with --credential-env ({string.Join(", ", entry.CredentialEnv)})"), json);
                }

                env = entry.CredentialEnv[0];
            }
            else if (!entry.CredentialEnv.Contains(env, StringComparer.Ordinal))
            {
                return CliOutput.Fail(KheishError.BadRequest("credential_env_unknown",
                    $"catalog entry `{entry.Id}` has no credential `{McpServerValidator.Printable(env)}`; known: {(entry.CredentialEnv.Count == 0 ? "(none)" : string.Join(", ", entry.CredentialEnv))}"), json);
            }

            if (!ReadValue(parseResult).TryGetValue(out string? value, out error)
                || !SlotId.Parse(entry.SlotFor(env)).TryGetValue(out SlotId id, out error)
                || !SecretsCommand.ChooseBackend(parseResult).TryGetValue(out ISecretsBackend? backend, out error))
            {
                return CliOutput.Fail(error, json);
            }

            Result<SlotStatus> stored = await backend.SetAsync(SlotRecord.WithSecret(id, SlotProvider.Generic, SlotMode.OpaqueSecret, value, 0), ct).ConfigureAwait(false);
            if (!stored.TryGetValue(out SlotStatus? status, out error))
            {
                return CliOutput.Fail(error, json);
            }

            if (json)
            {
                CliOutput.WriteJson(status, McpCliJsonContext.Default.SlotStatus);
            }
            else
            {
                CliOutput.Out.WriteLine($"stored {status.SlotId} (generic, opaque_secret)");
            }

            return ExitCodes.Ok;
        });
        return set;
    }

    private static Result<McpCatalogEntry> FindEntry(ParseResult parseResult)
    {
        string id = parseResult.GetValue(Entry)!;
        return McpCatalog.Find(id) is { } entry
            ? entry
            : KheishError.NotFound("mcp_catalog_entry_not_found",
                $"no catalog entry `{McpServerValidator.Printable(id)}`; known: {string.Join(", ", McpCatalog.Entries.Select(e => e.Id))}");
    }

    private static Result<string> ReadValue(ParseResult parseResult)
    {
        var given = new List<string>();
        if (parseResult.GetValue(FromEnv) is not null) { given.Add("--from-env"); }
        if (parseResult.GetValue(FromFile) is not null) { given.Add("--from-file"); }
        if (parseResult.GetValue(Stdin)) { given.Add("--stdin"); }
        if (parseResult.GetValue(Value) is not null) { given.Add("--value"); }
        if (given.Count != 1)
        {
            return KheishError.BadRequest("secret_source_required", given.Count == 0
                ? "give the value with exactly one of --from-env VAR, --from-file PATH, --stdin or --value"
                : $"give exactly one value source, not {string.Join(" and ", given)}");
        }

        if (parseResult.GetValue(Value) is { } v)
        {
            CliOutput.Warn("--value puts the secret in argv, visible to other processes; prefer --from-env, --from-file or --stdin");
            return SecretValueSource.FromArgument(v);
        }

        return parseResult.GetValue(FromEnv) is { } variable ? SecretValueSource.FromEnv(variable, Environment.GetEnvironmentVariable)
            : parseResult.GetValue(FromFile) is { } path ? SecretValueSource.FromFile(path)
            : SecretValueSource.FromStream(Console.OpenStandardInput(), "standard input");
    }

    // ------------------------------------------------------------------ check

    private static Command CreateCheck()
    {
        var check = new Command("check", "Validate an MCP config file offline: every problem at once; slot references are checked against the state root when its store is readable.");
        check.Arguments.Add(File);
        check.SetAction(parseResult =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            Func<string, bool>? exists = null;
            StateRoot root = CommonOptions.GetStateRoot(parseResult);
            if (Core.Crypto.MasterKey.FromEnvironment(Environment.GetEnvironmentVariable).TryGetValue(out Core.Crypto.MasterKey? key, out _)
                && key is not null && System.IO.File.Exists(root.SlotsFile) && SlotStore.Load(root, key).TryGetValue(out SlotStore? store, out _))
            {
                exists = slot => SlotId.Parse(slot).TryGetValue(out SlotId id, out _) && store.Get(id) is not null;
            }

            McpCheckResult result = McpConfigFile.LoadAndCheck(parseResult.GetValue(File)!, exists);
            if (json)
            {
                CliOutput.WriteJson(new McpCheckOutput(result.Source, result.IsOk, [.. (result.Servers ?? []).Select(s => s.Name)], result.Problems), McpCliJsonContext.Default.McpCheckOutput);
            }
            else if (result.IsOk)
            {
                CliOutput.Out.WriteLine($"{result.Source}: ok, {result.Servers!.Count} server(s): {string.Join(", ", result.Servers.Select(s => s.Name))}{(exists is null ? " (slot references not checked: no readable store; set KHEISH_AUTH_STORE_MASTER_KEY and --state-root)" : "")}");
            }
            else
            {
                foreach (McpProblem p in result.Problems)
                {
                    CliOutput.Error.WriteLine($"error: {result.Source}: {p.Message} [{p.Code}]");
                }
            }

            return result.IsOk ? ExitCodes.Ok : ExitCodes.BadRequest;
        });
        return check;
    }

    /// <summary>
    /// What <c>serve</c> loads: the --mcp-config file and mcp-servers.json, each server valid and
    /// every slot it references present; a name in both is an error. All problems at once.
    /// </summary>
    public static Result<McpSetup> LoadSetup(StateRoot root, string? configPath, SlotStore slots)
    {
        // Without the master key no slot can be read: that is reported once per server below, not as "missing".
        bool Exists(string slot) => !slots.HasMasterKey || (SlotId.Parse(slot).TryGetValue(out SlotId id, out _) && slots.Get(id) is not null);
        var problems = new List<McpProblem>();
        string source = configPath ?? root.McpServersFile;
        IReadOnlyList<McpServerDefinition> config = [];
        if (configPath is not null)
        {
            McpCheckResult check = McpConfigFile.LoadAndCheck(configPath, Exists);
            if (!check.IsOk)
            {
                problems.AddRange(check.Problems);
            }
            else
            {
                config = check.Servers!;
            }
        }

        var store = new McpServersStore(root);
        if (!store.Load().TryGetValue(out IReadOnlyList<McpServerDefinition>? managed, out KheishError? error))
        {
            return error;
        }

        foreach (McpServerDefinition def in managed)
        {
            foreach (string slot in def.SecretRefs().Where(s => !Exists(s)))
            {
                problems.Add(new McpProblem("mcp_secret_ref_missing", $"mcp server `{def.Name}` (in {store.FilePath}) references missing slot `{slot}`", def.Name));
            }

            if (config.Any(c => c.Name == def.Name))
            {
                problems.Add(new McpProblem("mcp_server_duplicate", $"mcp server `{def.Name}` is defined both in {configPath} and in {store.FilePath}; remove one", def.Name));
            }
        }

        if (!slots.HasMasterKey)
        {
            foreach (McpServerDefinition def in config.Concat(managed).Where(d => d.SecretRefs().Count > 0))
            {
                problems.Add(new McpProblem("master_key_required",
                    $"mcp server `{def.Name}` uses credentials, but no master key is configured to read the secret store (set KHEISH_AUTH_STORE_MASTER_KEY or _FILE)", def.Name));
            }
        }

        if (problems.Count > 0)
        {
            return new McpCheckResult(source, null, problems).ToError() with { Kind = ErrorKind.Misconfigured };
        }

        return new McpSetup(config, store, managed);
    }

    // ------------------------------------------------------------------ servers (online)

    private static Command CreateList()
    {
        var list = new Command("list", "List the daemon's MCP servers: transport, origin, connected, restarts, credential slots, tools.");
        CommonOptions.AddOnlineOptions(list);
        list.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (!CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            using (client)
            {
                if (!(await client.GetAsync("/v1/runtime/mcp/servers", McpHttpJsonContext.Default.McpServersResponse, ct).ConfigureAwait(false))
                        .TryGetValue(out McpServersResponse? servers, out error))
                {
                    return CliOutput.Fail(error, json);
                }

                if (json)
                {
                    CliOutput.WriteJson(servers, McpHttpJsonContext.Default.McpServersResponse);
                }
                else
                {
                    PrintServers(servers.Servers);
                }
            }

            return ExitCodes.Ok;
        });
        return list;
    }

    internal static void PrintServers(IReadOnlyList<McpServerView> servers)
    {
        if (servers.Count == 0)
        {
            CliOutput.Out.WriteLine("no mcp servers (add one with 'kheish-daemon mcp servers add' or serve --mcp-config)");
            return;
        }

        foreach (McpServerView s in servers)
        {
            CliOutput.Out.WriteLine($"{s.Server} ({s.Transport}, {s.Origin}): {(s.Connected ? "connected" : "not connected")}, restarts {s.Restarts}"
                + (s.Error is null ? "" : $", error: {s.Error}"));
            CliOutput.Out.WriteLine($"  credentials: {(s.UsesCredentials ? string.Join(", ", s.CredentialSecretRefs) : "(none)")}");
            CliOutput.Out.WriteLine($"  tools: {(s.Tools.Count == 0 ? "(not listed yet)" : string.Join(", ", s.Tools))}");
        }
    }

    private static Command CreateAdd()
    {
        var add = new Command("add", "Add or replace a daemon-managed server (stdio: --command ...; HTTP: --url ...; or --catalog <entry>). Referenced slots must exist.");
        add.Arguments.Add(ServerName);
        foreach (Option o in new Option[] { Catalog, Command, Arg, Env, EnvSecretRef, Cwd, Url, BearerRef, HeaderRef, Header, StartupTimeout, ToolTimeout, ToolPolicyRule, ApprovalTimeout, Hook, HookTimeout })
        {
            add.Options.Add(o);
        }

        CommonOptions.AddOnlineOptions(add);
        add.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (!BuildRequest(parseResult).TryGetValue(out McpServerWriteRequest? request, out KheishError? error)
                || !CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out error))
            {
                return CliOutput.Fail(error, json);
            }

            using (client)
            {
                if (!(await client.SendAsync(HttpMethod.Post, "/v1/runtime/mcp/servers",
                        Client.DaemonClient.Json(request, McpHttpJsonContext.Default.McpServerWriteRequest),
                        McpHttpJsonContext.Default.McpServerView, ct).ConfigureAwait(false)).TryGetValue(out McpServerView? view, out error))
                {
                    return CliOutput.Fail(error, json);
                }

                if (json)
                {
                    CliOutput.WriteJson(view, McpHttpJsonContext.Default.McpServerView);
                }
                else
                {
                    CliOutput.Out.WriteLine($"added mcp server {view.Server} ({view.Transport}); it starts on first use");
                }
            }

            return ExitCodes.Ok;
        });
        return add;
    }

    private static Result<McpServerWriteRequest> BuildRequest(ParseResult pr)
    {
        McpServerDefinition? template = null;
        if (pr.GetValue(Catalog) is { } entryId)
        {
            if (McpCatalog.Find(entryId) is not { } entry)
            {
                return KheishError.NotFound("mcp_catalog_entry_not_found", $"no catalog entry `{McpServerValidator.Printable(entryId)}`; see 'mcp auth catalog'");
            }

            template = entry.ToDefinition(pr.GetValue(ServerName));
        }

        if (!Pairs(pr, Env).TryGetValue(out var env, out KheishError? error)
            || !Pairs(pr, EnvSecretRef).TryGetValue(out var envRefs, out error)
            || !Pairs(pr, HeaderRef).TryGetValue(out var headerRefs, out error)
            || !Pairs(pr, Header).TryGetValue(out var headers, out error)
            || !Pairs(pr, ToolPolicyRule).TryGetValue(out var toolPolicy, out error)
            || !Hooks(pr).TryGetValue(out var hooks, out error))
        {
            return error;
        }

        string[] args = pr.GetValue(Arg) ?? [];
        return new McpServerWriteRequest
        {
            Name = pr.GetValue(ServerName)!,
            Command = pr.GetValue(Command) ?? template?.Command,
            Args = args.Length > 0 ? args : template?.Args,
            Env = env,
            EnvSecretRefs = Merge(template?.EnvSecretRefs, envRefs),
            Cwd = pr.GetValue(Cwd),
            Url = pr.GetValue(Url),
            BearerTokenSecretRef = pr.GetValue(BearerRef),
            HttpHeaderSecretRefs = headerRefs,
            HttpHeaders = headers,
            StartupTimeoutSec = pr.GetValue(StartupTimeout),
            ToolTimeoutSec = pr.GetValue(ToolTimeout),
            ToolPolicy = toolPolicy,
            ApprovalTimeoutSec = pr.GetValue(ApprovalTimeout),
            Hooks = hooks,
        };
    }

    /// <summary>The --hook and --hook-timeout-ms pairs as a hooks table (the daemon checks names, commands and timeouts).</summary>
    private static Result<IReadOnlyDictionary<string, PolicyHook>?> Hooks(ParseResult pr)
    {
        if (!Pairs(pr, Hook).TryGetValue(out var commands, out KheishError? error)
            || !Pairs(pr, HookTimeout).TryGetValue(out var timeouts, out error))
        {
            return error;
        }

        if (commands is null && timeouts is null)
        {
            return Result<IReadOnlyDictionary<string, PolicyHook>?>.Ok(null);
        }

        var hooks = new Dictionary<string, PolicyHook>(StringComparer.Ordinal);
        foreach ((string name, string command) in commands ?? new Dictionary<string, string>())
        {
            string[]? argv;
            if (command.StartsWith('['))
            {
                try
                {
                    argv = JsonSerializer.Deserialize(command, McpCliJsonContext.Default.StringArray);
                }
                catch (JsonException)
                {
                    argv = null;
                }

                if (argv is null || argv.Length == 0)
                {
                    return KheishError.BadRequest("invalid_hook_command", $"--hook {McpServerValidator.Printable(name)}=...: the command is not a non-empty JSON array of strings, e.g. [\"/usr/local/bin/check-call\",\"--strict\"]");
                }
            }
            else
            {
                argv = [command];
            }

            hooks[name] = new PolicyHook { Command = argv };
        }

        foreach ((string name, string ms) in timeouts ?? new Dictionary<string, string>())
        {
            if (!hooks.TryGetValue(name, out PolicyHook? hook))
            {
                return KheishError.BadRequest("invalid_hook_timeout", $"--hook-timeout-ms {McpServerValidator.Printable(name)}=...: there is no --hook {McpServerValidator.Printable(name)}=COMMAND");
            }

            if (!int.TryParse(ms, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int value))
            {
                return KheishError.BadRequest("invalid_hook_timeout", $"--hook-timeout-ms {McpServerValidator.Printable(name)}={McpServerValidator.Printable(ms)}: not a whole number of milliseconds");
            }

            hooks[name] = hook with { TimeoutMs = value };
        }

        return hooks;
    }

    private static IReadOnlyDictionary<string, string>? Merge(IReadOnlyDictionary<string, string>? a, IReadOnlyDictionary<string, string>? b)
    {
        if (a is null || a.Count == 0) { return b; }
        if (b is null) { return a; }
        var merged = a.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        foreach (var (k, v) in b) { merged[k] = v; }
        return merged;
    }

    private static Result<IReadOnlyDictionary<string, string>?> Pairs(ParseResult pr, Option<string[]> option)
    {
        string[] items = pr.GetValue(option) ?? [];
        if (items.Length == 0)
        {
            return Result<IReadOnlyDictionary<string, string>?>.Ok(null);
        }

        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string item in items)
        {
            int eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return KheishError.BadRequest("invalid_pair", $"{option.Name} takes NAME=VALUE (got an entry without '=')");
            }

            map[item[..eq]] = item[(eq + 1)..];
        }

        return Result<IReadOnlyDictionary<string, string>?>.Ok(map);
    }

    private static Command CreateRemove()
    {
        var remove = new Command("remove", "Remove a daemon-managed server and stop it. Exit 5 when there is none by that name.");
        remove.Arguments.Add(ServerName);
        CommonOptions.AddOnlineOptions(remove);
        remove.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            string name = parseResult.GetValue(ServerName)!;
            if (!McpServerValidator.IsValidName(name))
            {
                return CliOutput.Fail(KheishError.BadRequest("mcp_server_name_invalid", "a server name is letters, digits, '-' or '_'"), json);
            }

            if (!CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            using (client)
            {
                if (!(await client.SendAsync(HttpMethod.Delete, "/v1/runtime/mcp/servers/" + name, null, McpHttpJsonContext.Default.McpRemovedResponse, ct)
                        .ConfigureAwait(false)).TryGetValue(out McpRemovedResponse? removed, out error))
                {
                    return CliOutput.Fail(error, json);
                }

                if (json)
                {
                    CliOutput.WriteJson(removed, McpHttpJsonContext.Default.McpRemovedResponse);
                }
                else
                {
                    CliOutput.Out.WriteLine($"removed mcp server {removed.Server}");
                }
            }

            return ExitCodes.Ok;
        });
        return remove;
    }

    // ------------------------------------------------------------------ call (online)

    private static Command CreateCall()
    {
        var call = new Command("call", "Call a tool through the daemon (audited like an agent's call): mcp call <server>__<tool> --args-json '{...}'. Prints the tool result as JSON.");
        call.Arguments.Add(Tool);
        call.Options.Add(ArgsJson);
        var timeoutSec = new Option<int>("--timeout-sec")
        {
            Description = "How long to wait for the answer, in seconds (1-86400). A call to an `approve` tool is held until an operator decides or the server's approval_timeout_sec (default 300) runs out.",
            DefaultValueFactory = _ => 600,
        };
        call.Options.Add(timeoutSec);
        CommonOptions.AddOnlineOptions(call);
        call.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            JsonElement? arguments = null;
            if (parseResult.GetValue(ArgsJson) is { } text)
            {
                try
                {
                    using JsonDocument doc = JsonDocument.Parse(text);
                    if (doc.RootElement.ValueKind != JsonValueKind.Object)
                    {
                        return CliOutput.Fail(KheishError.BadRequest("invalid_args_json", "--args-json must be a JSON object"), json);
                    }

                    arguments = doc.RootElement.Clone();
                }
                catch (JsonException ex)
                {
                    return CliOutput.Fail(KheishError.BadRequest("invalid_args_json", $"--args-json is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1})"), json);
                }
            }

            int seconds = parseResult.GetValue(timeoutSec);
            if (seconds is < 1 or > 86400)
            {
                return CliOutput.Fail(KheishError.BadRequest("invalid_timeout", $"--timeout-sec must be between 1 and 86400 (got {seconds})"), json);
            }

            if (!CommonOptions.CreateClient(parseResult, TimeSpan.FromSeconds(seconds)).TryGetValue(out Client.DaemonClient? client, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            using (client)
            {
                string tool = Uri.EscapeDataString(parseResult.GetValue(Tool)!);
                if (!(await client.SendAsync(HttpMethod.Post, $"/v1/runtime/mcp/tools/{tool}/call",
                        Client.DaemonClient.Json(new McpToolCallRequest(arguments), McpHttpJsonContext.Default.McpToolCallRequest),
                        Core.Mcp.McpRawJson.Type, ct).ConfigureAwait(false)).TryGetValue(out JsonElement result, out error))
                {
                    return CliOutput.Fail(error, json);
                }

                CliOutput.Out.WriteLine(result.GetRawText());
                return result.TryGetProperty("isError", out JsonElement isError) && isError.ValueKind == JsonValueKind.True ? ExitCodes.HealthError : ExitCodes.Ok;
            }
        });
        return call;
    }
}
