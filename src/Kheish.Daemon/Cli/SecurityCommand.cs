using System.CommandLine;
using System.Text.Json.Serialization;
using Kheish.Core.Access;
using Kheish.Core.Errors;

namespace Kheish.Daemon.Cli;

/// <summary>
/// <c>kheish-daemon security ...</c>: the agent plane's security.json (mode, API keys, IP
/// allowlist). Edits the file directly, no daemon needed: a running daemon re-reads it on the
/// next request. Which file: <c>--global</c>, or the project of <c>--project-root</c> (default:
/// the working directory). Without either, edits go to the file in effect for the working
/// directory (its project file, else the global file, else a new project file).
/// </summary>
internal static class SecurityCommand
{
    private static readonly Option<bool> Global = new("--global")
    {
        Description = "Use the global file $XDG_CONFIG_HOME/kheish/security.json (default ~/.config/kheish/security.json).",
    };

    private static readonly Option<string?> ProjectRoot = new("--project-root")
    {
        Description = "Use the project file DIR/.kheish/security.json (default project: the working directory). A project file replaces the global file as a whole.",
    };

    private static readonly Option<string?> Principal = new("--principal")
    {
        Description = "Principal the key's requests act as (default apikey:<id>), e.g. agent:claude.",
    };

    private static readonly Option<string?> ScopeFile = new("--scope-file")
    {
        Description = "JSON file with the key's credential scope, e.g. {\"route_allow\":[\"openai\"],\"mcp_server_deny\":[\"github\"]}. A scope can only narrow.",
    };

    private static readonly Option<int?> RateLimit = new("--rate-limit")
    {
        Description = "Requests per minute for this key on egress and /mcp (a token bucket with a burst of the same size). Over it: 429 rate_limited_key with Retry-After.",
    };

    private static readonly Option<int?> MaxConcurrent = new("--max-concurrent")
    {
        Description = "Requests of this key in flight at once on egress and /mcp. Over it: 429 concurrency_limited_key.",
    };

    private static readonly Option<long?> BudgetRequestsPerDay = new("--budget-requests-per-day")
    {
        Description = "Requests per UTC day. Over it: 429 budget_exhausted with Retry-After until midnight UTC.",
    };

    private static readonly Option<long?> BudgetTokensPerDay = new("--budget-tokens-per-day")
    {
        Description = "Provider tokens (input + output, from the upstream's usage) per UTC day.",
    };

    private static readonly Option<long?> BudgetTokensPerMonth = new("--budget-tokens-per-month")
    {
        Description = "Provider tokens (input + output) per UTC calendar month.",
    };

    private static readonly Option<string[]> ToolAllow = new("--tool-allow")
    {
        Description = "Capability scope: a gateway tool (<server>__<tool>, `*` globs) the key may see and call; repeat for more. Without it every tool not denied.",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<string[]> ToolDeny = new("--tool-deny")
    {
        Description = "Capability scope: a gateway tool (<server>__<tool>, `*` globs) the key may neither see nor call; repeat for more. Deny wins over --tool-allow.",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Argument<string> KeyOrId = new("id-or-key")
    {
        Description = "The key's id (from 'security status') or the key itself.",
    };

    private static readonly Argument<string> IpEntry = new("address-or-cidr")
    {
        Description = "An IPv4/IPv6 address or CIDR range, e.g. 127.0.0.1, ::1, 10.0.0.0/8, fd00::/8.",
    };

    private static readonly Option<bool> AllowEmpty = new("--allow-empty")
    {
        Description = "Allow removing the last entry. An empty allowlist lets EVERY address connect.",
    };

    private static readonly Argument<string> ModeArgument = CreateModeArgument();

    private static readonly Option<string?> SetupMode = CreateSetupMode();

    private static readonly Option<bool> SetupGenerateKey = new("--generate-key")
    {
        Description = "Generate an API key (shown once). Interactive default: yes when the file has no key. Ignored in lax.",
    };

    private static readonly Option<string[]> SetupAllowIp = new("--allow-ip")
    {
        Description = "Add an address or CIDR to the allowlist (repeatable). Loopback 127.0.0.1 and ::1 are listed by default.",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<bool> SetupYes = new("--yes", "-y")
    {
        Description = "Non-interactive: accept the defaults and the flags, write without asking (for CI).",
    };

    public static Command Create()
    {
        var command = new Command(
            "security",
            "Agent-plane security (security.json): mode strict|relaxed|lax, API keys, IP allowlist. " +
            "Edits take effect on the running daemon's next request.");
        command.Subcommands.Add(CreateStatus());
        command.Subcommands.Add(CreateGenerateKey());
        command.Subcommands.Add(CreateRevokeKey());
        command.Subcommands.Add(CreateAllowIp());
        command.Subcommands.Add(CreateDenyIp());
        command.Subcommands.Add(CreateTrustProxy());
        command.Subcommands.Add(CreateUntrustProxy());
        command.Subcommands.Add(CreateSetMode());
        command.Subcommands.Add(CreateSetup());
        command.Subcommands.Add(CreateUsage());
        return command;
    }

    private static readonly Option<string?> UsageKey = new("--key") { Description = "Only this API key id (from 'security status')." };
    private static readonly Option<string?> UsageRoute = new("--route") { Description = "Only this route id (or mcp)." };
    private static readonly Option<string?> UsageSince = new("--since") { Description = "Only UTC days from this date or timestamp on, e.g. 2026-01-31." };

    /// <summary>Online: the running daemon's per-key usage (GET /v1/runtime/usage); the read-only token is enough.</summary>
    private static Command CreateUsage()
    {
        var command = new Command("usage", "Requests and provider tokens per API key, route and UTC day, and each key's standing against its limits (from the running daemon; read-only token is enough).");
        command.Options.Add(UsageKey);
        command.Options.Add(UsageRoute);
        command.Options.Add(UsageSince);
        CommonOptions.AddOnlineOptions(command);
        command.SetAction(async (parseResult, ct) =>
        {
            bool json = CommonOptions.IsJson(parseResult);
            if (!CommonOptions.CreateClient(parseResult).TryGetValue(out Client.DaemonClient? client, out KheishError? error))
            {
                return CliOutput.Fail(error, json);
            }

            var query = new List<string>();
            foreach ((string name, string? value) in new[] { ("key", parseResult.GetValue(UsageKey)), ("route", parseResult.GetValue(UsageRoute)), ("since", parseResult.GetValue(UsageSince)) })
            {
                if (value is not null)
                {
                    query.Add(name + "=" + Uri.EscapeDataString(value));
                }
            }

            using (client)
            {
                if (!(await client.GetTextAsync("/v1/runtime/usage" + (query.Count == 0 ? "" : "?" + string.Join('&', query)), ct).ConfigureAwait(false))
                        .TryGetValue(out string? body, out error))
                {
                    return CliOutput.Fail(error, json);
                }

                if (json)
                {
                    CliOutput.Out.WriteLine(body);
                    return ExitCodes.Ok;
                }

                using var doc = System.Text.Json.JsonDocument.Parse(body);
                System.Text.Json.JsonElement rows = doc.RootElement.GetProperty("usage");
                CliOutput.Out.WriteLine(rows.GetArrayLength() == 0 ? "no usage recorded" : $"{"day",-10}  {"key",-14} {"route",-16} {"requests",9} {"input",12} {"output",12}");
                foreach (System.Text.Json.JsonElement r in rows.EnumerateArray())
                {
                    CliOutput.Out.WriteLine($"{r.GetProperty("day").GetString(),-10}  {r.GetProperty("key_id").GetString(),-14} {r.GetProperty("route").GetString(),-16} {r.GetProperty("requests").GetInt64(),9} {r.GetProperty("input_tokens").GetInt64(),12} {r.GetProperty("output_tokens").GetInt64(),12}");
                }

                foreach (System.Text.Json.JsonElement k in doc.RootElement.GetProperty("keys").EnumerateArray())
                {
                    CliOutput.Out.WriteLine($"key {k.GetProperty("key_id").GetString()}: today {k.GetProperty("requests_today").GetInt64()} requests, {k.GetProperty("tokens_today").GetInt64()} tokens; this month {k.GetProperty("tokens_this_month").GetInt64()} tokens; {k.GetProperty("in_flight").GetInt32()} in flight{(k.TryGetProperty("limits", out _) ? "" : "; no limits")}");
                }
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command WithFileOptions(Command command)
    {
        command.Options.Add(Global);
        command.Options.Add(ProjectRoot);
        command.Validators.Add(result =>
        {
            if (result.GetValue(Global) && result.GetValue(ProjectRoot) is not null)
            {
                result.AddError("--global and --project-root choose different files; give one of them.");
            }
        });
        return command;
    }

    private static Command CreateStatus()
    {
        var command = WithFileOptions(new Command(
            "status",
            "Show the mode (and what it means), the file in effect, keys by id/principal/creation time, allowed IPs and trusted proxies. Never prints a key."));
        command.SetAction((parseResult, _) => Task.FromResult(Status(parseResult)));
        return command;
    }

    private static Command CreateGenerateKey()
    {
        var command = WithFileOptions(new Command(
            "generate-key",
            "Create an API key (kheish_ + 256 random bits). The key is printed ONCE; only its SHA-256 digest is stored."));
        command.Options.Add(Principal);
        command.Options.Add(ScopeFile);
        command.Options.Add(RateLimit);
        command.Options.Add(MaxConcurrent);
        command.Options.Add(BudgetRequestsPerDay);
        command.Options.Add(BudgetTokensPerDay);
        command.Options.Add(BudgetTokensPerMonth);
        command.Options.Add(ToolAllow);
        command.Options.Add(ToolDeny);
        command.SetAction((parseResult, _) => Task.FromResult(GenerateKey(parseResult)));
        return command;
    }

    private static Command CreateRevokeKey()
    {
        var command = WithFileOptions(new Command("revoke-key", "Remove an API key by id or by value. A running daemon refuses it on the next request."));
        command.Arguments.Add(KeyOrId);
        command.SetAction((parseResult, _) => Task.FromResult(RevokeKey(parseResult)));
        return command;
    }

    private static Command CreateAllowIp()
    {
        var command = WithFileOptions(new Command("allow-ip", "Add an address or CIDR range to the IP allowlist (a non-empty list admits only matching clients)."));
        command.Arguments.Add(IpEntry);
        command.SetAction((parseResult, _) => Task.FromResult(AllowIp(parseResult)));
        return command;
    }

    private static Command CreateDenyIp()
    {
        var command = WithFileOptions(new Command("deny-ip", "Remove an address or CIDR range from the IP allowlist."));
        command.Arguments.Add(IpEntry);
        command.Options.Add(AllowEmpty);
        command.SetAction((parseResult, _) => Task.FromResult(DenyIp(parseResult)));
        return command;
    }

    private static Command CreateTrustProxy()
    {
        var command = WithFileOptions(new Command(
            "trust-proxy",
            "Trust a reverse proxy (address or CIDR): for requests from it, the client address is taken from X-Forwarded-For. Trust only proxies you run."));
        command.Arguments.Add(IpEntry);
        command.SetAction((parseResult, _) => Task.FromResult(TrustProxy(parseResult)));
        return command;
    }

    private static Command CreateUntrustProxy()
    {
        var command = WithFileOptions(new Command("untrust-proxy", "Stop trusting a reverse proxy: its X-Forwarded-For is ignored again."));
        command.Arguments.Add(IpEntry);
        command.SetAction((parseResult, _) => Task.FromResult(UntrustProxy(parseResult)));
        return command;
    }

    private static int TrustProxy(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        SecurityConfigTarget target = WriteTarget(parseResult);
        var trusted = SecurityConfigOperations.TrustProxy(target, parseResult.GetValue(IpEntry));
        if (!trusted.TryGetValue(out var outcome, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        return Done(json, target.File, "trust-proxy", outcome.Changed, outcome.Changed
            ? $"trusting proxy {outcome.Rule} in {target.File}: X-Forwarded-For from it names the client"
            : $"{outcome.Rule} is already a trusted proxy in {target.File}");
    }

    private static int UntrustProxy(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        SecurityConfigTarget target = WriteTarget(parseResult);
        var removed = SecurityConfigOperations.UntrustProxy(target, parseResult.GetValue(IpEntry));
        if (!removed.TryGetValue(out var outcome, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        return Done(json, target.File, "untrust-proxy", true, $"no longer trusting proxy {outcome.Rule} in {target.File} ({outcome.Remaining} trusted proxies left)");
    }

    private static Command CreateSetMode()
    {
        var command = WithFileOptions(new Command("set-mode", "Set the mode: strict (key required), relaxed (key optional, must be valid if given), lax (no authentication)."));
        command.Arguments.Add(ModeArgument);
        command.SetAction((parseResult, _) => Task.FromResult(SetMode(parseResult)));
        return command;
    }

    private static Command CreateSetup()
    {
        var command = WithFileOptions(new Command(
            "setup",
            "Interactive wizard: choose the file, the mode, generate the first key, edit the IP allowlist, review and confirm. " +
            "Cancel (q or Ctrl-D) writes nothing. With --yes it runs without questions."));
        command.Options.Add(SetupMode);
        command.Options.Add(SetupGenerateKey);
        command.Options.Add(SetupAllowIp);
        command.Options.Add(SetupYes);
        command.Options.Add(Principal);
        command.SetAction((parseResult, _) => Task.FromResult(Setup(parseResult)));
        return command;
    }

    private static int Status(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        SecurityConfigSnapshot snapshot = parseResult.GetValue(Global)
            ? SecurityConfigSource.ReadFile(SecurityConfigOrigin.Global, Location(parseResult).GlobalFile)
            : SecurityConfigSource.ReadInEffect(Location(parseResult));
        SecurityStatusOutput status = SecurityStatusOutput.From(snapshot);
        if (json)
        {
            CliOutput.WriteJson(status, SecurityCliJsonContext.Default.SecurityStatusOutput);
        }
        else
        {
            WriteStatus(snapshot, status);
        }

        if (!snapshot.IsValid)
        {
            CliOutput.Error.WriteLine($"error: {snapshot.Error.Message}");
            return ExitCodes.For(snapshot.Error.Kind);
        }

        return ExitCodes.Ok;
    }

    private static void WriteStatus(SecurityConfigSnapshot snapshot, SecurityStatusOutput status)
    {
        TextWriter o = CliOutput.Out;
        o.WriteLine($"file:      {snapshot.Describe()}");
        if (!snapshot.IsValid)
        {
            o.WriteLine("state:     INVALID: the agent plane refuses every request until the file is fixed");
            return;
        }

        o.WriteLine($"mode:      {status.Mode} ({status.ModeMeaning})");
        o.WriteLine($"keys:      {status.Keys.Count}{(status.Keys.Count == 0 && status.Mode == "strict" ? " (strict with no keys: every agent request is refused; run 'security generate-key')" : "")}");
        foreach (SecurityKeyOutput k in status.Keys)
        {
            o.WriteLine($"  {k.Id,-14} {k.Principal,-24} created {k.CreatedAt ?? "-"}{(k.Weak ? "  weak: plaintext in file (any 'security' edit stores its digest instead)" : "")}{(k.Scope is null ? "" : "  scoped")}{LimitsText(k)}");
        }

        o.WriteLine($"allowed:   {(status.AllowedIps.Count == 0 ? "(empty: every address may connect)" : string.Join(", ", status.AllowedIps))}");
        o.WriteLine($"proxies:   {(status.TrustedProxies.Count == 0 ? "(none: X-Forwarded-For is ignored)" : string.Join(", ", status.TrustedProxies))}");
    }

    private static string LimitsText(SecurityKeyOutput k)
    {
        var parts = new List<string>();
        if (k.RateLimit is { } rate)
        {
            parts.Add($"{rate}/min");
        }

        if (k.MaxConcurrent is { } concurrent)
        {
            parts.Add($"{concurrent} concurrent");
        }

        if (k.Budget is { } b)
        {
            parts.AddRange(new[] { (b.RequestsPerDay, "requests/day"), (b.TokensPerDay, "tokens/day"), (b.TokensPerMonth, "tokens/month") }
                .Where(x => x.Item1 is not null).Select(x => $"{x.Item1} {x.Item2}"));
        }

        return parts.Count == 0 ? "" : "  limits: " + string.Join(", ", parts);
    }

    private static int GenerateKey(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        ApiKeyScope? scope = null;
        if (parseResult.GetValue(ScopeFile) is { } scopeFile)
        {
            Result<ApiKeyScope> read = ReadScopeFile(scopeFile);
            if (!read.IsOk)
            {
                return CliOutput.Fail(read.Error, json);
            }

            scope = read.Value;
        }

        long? requests = parseResult.GetValue(BudgetRequestsPerDay), tokensDay = parseResult.GetValue(BudgetTokensPerDay), tokensMonth = parseResult.GetValue(BudgetTokensPerMonth);
        ApiKeyLimits? limits = ApiKeyLimits.OrNull(
            parseResult.GetValue(RateLimit),
            parseResult.GetValue(MaxConcurrent),
            requests is null && tokensDay is null && tokensMonth is null ? null : new ApiKeyBudget(requests, tokensDay, tokensMonth));

        string[] toolAllow = parseResult.GetValue(ToolAllow) ?? [];
        string[] toolDeny = parseResult.GetValue(ToolDeny) ?? [];
        if (toolAllow.Length > 0 || toolDeny.Length > 0)
        {
            if (scope?.CapabilityScope is not null)
            {
                return CliOutput.Fail(KheishError.BadRequest("invalid_scope", "give the capability scope either in --scope-file (capability_scope) or with --tool-allow/--tool-deny, not both"), json);
            }

            scope = (scope ?? new ApiKeyScope()) with
            {
                CapabilityScope = new Kheish.Core.Policy.CapabilityScope
                {
                    ToolAllow = toolAllow.Length > 0 ? toolAllow : null,
                    ToolDeny = toolDeny.Length > 0 ? toolDeny : null,
                },
            };
        }

        SecurityConfigTarget target = WriteTarget(parseResult);
        var generated = SecurityConfigOperations.GenerateKey(target, parseResult.GetValue(Principal), scope, limits);
        if (!generated.TryGetValue(out var created, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        (ApiKeyEntry entry, string key) = created;
        if (json)
        {
            CliOutput.WriteJson(new GeneratedKeyOutput(entry.Id, key, entry.Principal, target.File), SecurityCliJsonContext.Default.GeneratedKeyOutput);
        }
        else
        {
            CliOutput.Out.WriteLine($"API key {entry.Id} for {entry.Principal} added to {target.File}.");
            CliOutput.Out.WriteLine("The key is shown ONCE; only its digest is stored. Store it now:");
            CliOutput.Out.WriteLine(key);
            CliOutput.Out.WriteLine("MCP clients send it as the header  \"X-API-Key\": \"<key>\"  (or Authorization: Bearer <key>).");
        }

        WarnIfNotInEffect(parseResult, target.File);
        return ExitCodes.Ok;
    }

    private static int RevokeKey(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        SecurityConfigTarget target = WriteTarget(parseResult);
        Result<string> revoked = SecurityConfigOperations.RevokeKey(target, parseResult.GetValue(KeyOrId)!);
        if (!revoked.TryGetValue(out string? id, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        return Done(json, target.File, "revoke-key", true, $"revoked API key {id} in {target.File}; a running daemon refuses it from the next request");
    }

    private static int AllowIp(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        SecurityConfigTarget target = WriteTarget(parseResult);
        var allowed = SecurityConfigOperations.AllowIp(target, parseResult.GetValue(IpEntry));
        if (!allowed.TryGetValue(out var outcome, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        return Done(json, target.File, "allow-ip", outcome.Changed, outcome.Changed ? $"allowed {outcome.Rule} in {target.File}" : $"{outcome.Rule} is already allowed in {target.File}");
    }

    private static int DenyIp(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        SecurityConfigTarget target = WriteTarget(parseResult);
        var denied = SecurityConfigOperations.DenyIp(target, parseResult.GetValue(IpEntry), parseResult.GetValue(AllowEmpty));
        if (!denied.TryGetValue(out var outcome, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        if (outcome.Remaining == 0)
        {
            CliOutput.Warn("the allowlist is now empty: every address may connect (API key rules still apply)");
        }

        return Done(json, target.File, "deny-ip", true, $"removed {outcome.Rule} from the allowlist in {target.File}");
    }

    private static int SetMode(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        if (!SecurityModes.TryParse(parseResult.GetValue(ModeArgument), out SecurityMode mode))
        {
            return CliOutput.Fail(KheishError.BadRequest("invalid_mode", "mode must be strict, relaxed or lax"), json);
        }

        SecurityConfigTarget target = WriteTarget(parseResult);
        Result<int> keys = SecurityConfigOperations.SetMode(target, mode);
        if (!keys.TryGetValue(out int keyCount, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        if (mode == SecurityMode.Lax)
        {
            CliOutput.Warn("lax mode checks no API key; serve refuses lax on a non-loopback address unless --allow-lax-on-network is given");
        }
        else if (mode == SecurityMode.Strict && keyCount == 0)
        {
            CliOutput.Warn("strict with no keys refuses every agent request; run 'kheish-daemon security generate-key'");
        }

        return Done(json, target.File, "set-mode", true, $"mode is now {mode.Name()} ({mode.Meaning()}) in {target.File}");
    }

    private static int Setup(ParseResult parseResult)
    {
        bool json = CommonOptions.IsJson(parseResult);
        SecurityConfigLocation location = Location(parseResult);
        var extra = new List<IpRule>();
        foreach (string entry in parseResult.GetValue(SetupAllowIp) ?? [])
        {
            Result<IpRule> rule = IpRule.Parse(entry);
            if (!rule.IsOk)
            {
                return CliOutput.Fail(rule.Error, json);
            }

            extra.Add(rule.Value);
        }

        string? principal = parseResult.GetValue(Principal);
        if (principal is not null && !SecurityConfigFile.IsValidPrincipal(principal))
        {
            return CliOutput.Fail(KheishError.BadRequest("invalid_principal", "--principal must be 1-128 printable characters without spaces"), json);
        }

        bool targetFixed = parseResult.GetValue(Global) || parseResult.GetValue(ProjectRoot) is not null;
        SecurityMode mode = SecurityMode.Strict;
        if (parseResult.GetValue(SetupMode) is { } modeText && !SecurityModes.TryParse(modeText, out mode))
        {
            return CliOutput.Fail(KheishError.BadRequest("invalid_mode", "--mode must be strict, relaxed or lax"), json);
        }

        var defaults = new SecuritySetupDefaults(
            parseResult.GetValue(Global) ? SecurityConfigOrigin.Global : SecurityConfigOrigin.Project,
            targetFixed,
            mode,
            parseResult.GetValue(SetupGenerateKey),
            extra);

        // In json mode the questions go to stderr so stdout stays one JSON document.
        TextWriter prompts = json ? CliOutput.Error : CliOutput.Out;
        SecuritySetupChoices? choices = parseResult.GetValue(SetupYes)
            ? SecuritySetupWizard.Accept(defaults, location)
            : new SecuritySetupWizard(Console.In, prompts, location).Run(defaults);
        if (choices is null)
        {
            return CliOutput.Fail(KheishError.BadRequest("setup_cancelled", "setup cancelled: nothing was written"), json);
        }

        if (defaults.GenerateKey && choices.Mode == SecurityMode.Lax)
        {
            CliOutput.Warn("lax mode checks no API key: --generate-key ignored");
        }

        bool nonInteractive = parseResult.GetValue(SetupYes);
        var written = SecurityConfigOperations.ApplySetup(choices, principal, keepExistingKeys: nonInteractive);
        if (!written.TryGetValue(out var created, out KheishError? error))
        {
            return CliOutput.Fail(error, json);
        }

        if (nonInteractive && choices.GenerateKey && choices.Mode != SecurityMode.Lax && created is null)
        {
            CliOutput.Warn($"{choices.File} already has an API key: no second key generated (run 'kheish-daemon security generate-key' to add one)");
        }

        if (json)
        {
            // The key fields sit at the top level, as in 'security generate-key -o json': `jq -r .key` reads either.
            CliOutput.WriteJson(
                new SetupOutput(choices.File, choices.Mode.Name(), [.. choices.AllowedIps.Select(r => r.ToString())], created is not null, created?.Entry.Id, created?.Key, created?.Entry.Principal),
                SecurityCliJsonContext.Default.SetupOutput);
        }
        else
        {
            CliOutput.Out.WriteLine($"Wrote {choices.File} (mode 0600): {choices.Mode.Name()}, allowlist {(choices.AllowedIps.Count == 0 ? "empty (every address)" : string.Join(", ", choices.AllowedIps))}.");
            if (created is { } c)
            {
                CliOutput.Out.WriteLine($"API key {c.Entry.Id} for {c.Entry.Principal}, shown ONCE (only its digest is stored). Store it now:");
                CliOutput.Out.WriteLine(c.Key);
                CliOutput.Out.WriteLine("MCP client config: {\"headers\": {\"X-API-Key\": \"<the key above>\"}}");
            }
        }

        return ExitCodes.Ok;
    }

    private static Result<ApiKeyScope> ReadScopeFile(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return KheishError.BadRequest("scope_file_unreadable", $"cannot read --scope-file {path} ({Kheish.Core.Errors.IoReason.Of(ex)})");
        }

        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(bytes);
            return SecurityConfigFile.ReadScope(doc.RootElement, "scope");
        }
        catch (System.Text.Json.JsonException ex)
        {
            return KheishError.BadRequest("invalid_scope", $"{path}: not valid JSON: {ex.Message}");
        }
        catch (FormatException ex)
        {
            return KheishError.BadRequest("invalid_scope", $"{path}: {ex.Message}");
        }
    }

    private static SecurityConfigLocation Location(ParseResult parseResult) =>
        SecurityConfigLocation.Resolve(parseResult.GetValue(ProjectRoot));

    private static SecurityConfigTarget WriteTarget(ParseResult parseResult) =>
        SecurityConfigTarget.Choose(Location(parseResult), parseResult.GetValue(Global), parseResult.GetValue(ProjectRoot) is not null);

    private static void WarnIfNotInEffect(ParseResult parseResult, string file)
    {
        SecurityConfigLocation location = Location(parseResult);
        if (file == location.GlobalFile && File.Exists(location.ProjectFile))
        {
            CliOutput.Warn($"{location.ProjectFile} exists and replaces the global file for {location.ProjectRoot}: this key does not apply there");
        }
    }

    private static int Done(bool json, string file, string action, bool changed, string message)
    {
        if (json)
        {
            CliOutput.WriteJson(new SecurityEditOutput(file, action, changed, message), SecurityCliJsonContext.Default.SecurityEditOutput);
        }
        else
        {
            CliOutput.Out.WriteLine(message);
        }

        return ExitCodes.Ok;
    }

    private static Argument<string> CreateModeArgument()
    {
        var argument = new Argument<string>("mode") { Description = "strict, relaxed or lax." };
        argument.AcceptOnlyFromAmong([.. SecurityModes.Names]);
        return argument;
    }

    private static Option<string?> CreateSetupMode()
    {
        var option = new Option<string?>("--mode") { Description = "Mode to choose: strict (default), relaxed or lax." };
        option.AcceptOnlyFromAmong([.. SecurityModes.Names]);
        return option;
    }
}

internal sealed record SecurityKeyOutput(string Id, string Principal, string? CreatedAt, bool Weak, ApiKeyScope? Scope)
{
    public int? RateLimit { get; init; }

    public int? MaxConcurrent { get; init; }

    public ApiKeyBudget? Budget { get; init; }
}

internal sealed record SecurityStatusOutput(
    string? File,
    string Origin,
    bool Valid,
    CliError? Error,
    string? Mode,
    string? ModeMeaning,
    IReadOnlyList<SecurityKeyOutput> Keys,
    IReadOnlyList<string> AllowedIps,
    IReadOnlyList<string> TrustedProxies,
    string? CreatedAt)
{
    /// <summary>The status view (never a key) shared by <c>security status</c> and GET /v1/runtime/security.</summary>
    public static SecurityStatusOutput From(SecurityConfigSnapshot snapshot)
    {
        SecurityConfig? config = snapshot.Config;
        return new SecurityStatusOutput(
            snapshot.File,
            snapshot.OriginName,
            snapshot.IsValid,
            snapshot.IsValid ? null : new CliError(snapshot.Error.Code, snapshot.Error.Message),
            config?.Mode.Name(),
            config?.Mode.Meaning(),
            config is null ? [] : [.. config.ApiKeys.Select(k => new SecurityKeyOutput(k.Id, k.Principal, k.CreatedAt, k.IsWeak, k.Scope)
            {
                RateLimit = k.Limits?.RateLimit,
                MaxConcurrent = k.Limits?.MaxConcurrent,
                Budget = k.Limits?.Budget,
            })],
            config is null ? [] : [.. config.AllowedIps.Entries],
            config is null ? [] : [.. config.TrustedProxies.Entries],
            config?.CreatedAt);
    }
}

internal sealed record GeneratedKeyOutput(string Id, string Key, string Principal, string File);

internal sealed record SecurityEditOutput(string File, string Action, bool Changed, string Message);

internal sealed record SetupOutput(string File, string Mode, IReadOnlyList<string> AllowedIps, bool KeyGenerated, string? Id, string? Key, string? Principal);

/// <summary>The <c>--output json</c> shapes of <c>security</c>; options as <see cref="CliJsonContext"/>.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    WriteIndented = false)]
[JsonSerializable(typeof(SecurityStatusOutput))]
[JsonSerializable(typeof(GeneratedKeyOutput))]
[JsonSerializable(typeof(SecurityEditOutput))]
[JsonSerializable(typeof(SetupOutput))]
internal sealed partial class SecurityCliJsonContext : JsonSerializerContext;
