using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Kheish.Core.Accounts;
using Kheish.Core.Audit;
using Kheish.Core.Broker;
using Kheish.Core.Errors;
using Kheish.Core.Mcp;
using Kheish.Core.Policy;
using Kheish.Core.Secrets;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace Kheish.Daemon.Http.Mcp;

/// <summary>What <c>serve</c> validated about MCP before the host is built.</summary>
internal sealed record McpSetup(IReadOnlyList<McpServerDefinition> ConfigServers, McpServersStore Managed, IReadOnlyList<McpServerDefinition> ManagedServers);

/// <summary>
/// Every upstream MCP server the daemon knows (from --mcp-config and mcp-servers.json), and the
/// one path a tool call takes, from the gateway or the control plane: name → scope → MCP lease
/// (issued and spent at once; revoked subjects and slots refuse) → <c>started</c> record durable
/// → upstream call → echo redaction → <c>completed</c>/<c>failed</c> record.
/// </summary>
internal sealed partial class McpHub : IMcpSecretSource, IAsyncDisposable
{
    public const string Kind = "mcp_tool_call";
    public const string HookKind = "mcp_tool_policy_hook";
    public const string Separator = "__";
    private static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(5);

    private static readonly JsonTypeInfo<CallToolResult> CallToolResultType = Type<CallToolResult>();

    private readonly DaemonContext _daemon;
    private readonly McpApprovals _approvals;
    private readonly McpServersStore _managed;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly string _shimPath;
    private readonly ConcurrentDictionary<string, McpUpstream> _upstreams = new(StringComparer.Ordinal);
    private readonly Lock _writeGate = new();
    private long _redactions;

    public McpHub(McpSetup setup, DaemonContext daemon, ILoggerFactory loggers, McpApprovals approvals)
    {
        _daemon = daemon;
        _approvals = approvals;
        _managed = setup.Managed;
        _loggers = loggers;
        _logger = loggers.CreateLogger("Kheish.Mcp");
        _shimPath = Environment.ProcessPath ?? "kheish-daemon";
        foreach (McpServerDefinition def in setup.ConfigServers)
        {
            _upstreams[def.Name] = NewUpstream(def, "config");
        }

        foreach (McpServerDefinition def in setup.ManagedServers)
        {
            _upstreams.TryAdd(def.Name, NewUpstream(def, "managed"));
        }

        daemon.Slots.SlotChanged += id => _ = OnSlotChangedAsync(id.Value);
        daemon.Broker.SlotRevoked += slot => _ = OnSlotRevokedAsync(slot);
        daemon.Broker.SubjectRevoked += subject => _ = OnSubjectRevokedAsync(subject);
    }

    /// <summary>Echo redactions so far (each replaced occurrence set, per result).</summary>
    public long Redactions => Interlocked.Read(ref _redactions);

    public IReadOnlyList<McpUpstream> Servers => [.. _upstreams.Values.OrderBy(u => u.Name, StringComparer.Ordinal)];

    public McpUpstream? Find(string name) => _upstreams.GetValueOrDefault(name);

    private McpUpstream NewUpstream(McpServerDefinition def, string origin) =>
        new(def, origin, this, _loggers, _daemon.Clock, _shimPath);

    /// <summary>Servers whose definition references <paramref name="slotId"/> (such a slot cannot be deleted).</summary>
    public IReadOnlyList<string> ServersReferencing(string slotId) =>
        [.. _upstreams.Values.Where(u => u.Definition.SecretRefs().Contains(slotId, StringComparer.Ordinal)).Select(u => u.Name).Order(StringComparer.Ordinal)];

    // ------------------------------------------------------------------ managed definitions

    /// <summary>Adds or replaces a daemon-managed server. A name from the --mcp-config file is refused.</summary>
    public async Task<Result<McpUpstream>> PutManagedAsync(McpServerDefinition def)
    {
        var problems = new List<McpProblem>();
        McpServerValidator.Validate(def, problems, SlotExists);
        if (problems.Count > 0)
        {
            return new McpCheckResult("server definition", null, problems).ToError();
        }

        if (_upstreams.TryGetValue(def.Name, out McpUpstream? existing) && existing.Origin == "config")
        {
            return KheishError.Conflict("mcp_server_from_config", $"mcp server `{def.Name}` is defined in the --mcp-config file; change it there");
        }

        Result<IReadOnlyList<McpServerDefinition>> saved;
        lock (_writeGate)
        {
            saved = _managed.Put(def);
        }

        if (!saved.IsOk)
        {
            return saved.Error;
        }

        McpUpstream upstream = NewUpstream(def, "managed");
        if (_upstreams.TryGetValue(def.Name, out McpUpstream? old))
        {
            await old.DisposeAsync().ConfigureAwait(false);
        }

        _upstreams[def.Name] = upstream;
        return upstream;
    }

    public async Task<Result<bool>> RemoveManagedAsync(string name)
    {
        if (!_upstreams.TryGetValue(name, out McpUpstream? existing))
        {
            return KheishError.NotFound("mcp_server_not_found", $"no mcp server named `{McpServerValidator.Printable(name)}`");
        }

        if (existing.Origin == "config")
        {
            return KheishError.Conflict("mcp_server_from_config", $"mcp server `{name}` is defined in the --mcp-config file; remove it there and restart");
        }

        Result<bool> removed;
        lock (_writeGate)
        {
            removed = _managed.Remove(name);
        }

        if (!removed.IsOk)
        {
            return removed.Error;
        }

        _upstreams.TryRemove(name, out _);
        await existing.DisposeAsync().ConfigureAwait(false);
        return true;
    }

    public bool SlotExists(string slotId) =>
        SlotId.Parse(slotId).TryGetValue(out SlotId id, out _) && _daemon.Slots.Get(id) is not null;

    // ------------------------------------------------------------------ secrets

    public Result<IReadOnlyList<InjectedSecret>> Resolve(string server, IReadOnlyDictionary<string, string> refs)
    {
        // A revoked server subject stays revoked across restarts, credentials or not.
        if (_daemon.Broker.IsSubjectRevoked(SubjectId.ForMcpServer(server)))
        {
            return BrokerErrors.SubjectWasRevoked(SubjectId.ForMcpServer(server).Value);
        }

        if (refs.Count == 0)
        {
            return Result<IReadOnlyList<InjectedSecret>>.Ok([]);
        }

        if (_daemon.StoreUnavailable is not null)
        {
            return KheishError.Unavailable("credential_unavailable", $"mcp server `{server}`: the secret store is not readable (no master key configured)");
        }

        // The server's own lease: issued to its subject (mcp:<server>) and spent at once, so a
        // revoked slot or a revoked server subject refuses here.
        string leaseSlot = refs.Values.Order(StringComparer.Ordinal).First();
        if (!_daemon.Broker.SpendMcpLease(SubjectId.ForMcpServer(server), CredentialScope.Unrestricted, server, leaseSlot, [], LeaseTtl)
                .TryGetValue(out _, out KheishError? error))
        {
            return error;
        }

        var secrets = new List<InjectedSecret>();
        foreach (var (target, slot) in refs)
        {
            if (_daemon.Broker.CheckSlot(slot) is { } revoked)
            {
                return revoked;
            }

            if (!SlotId.Parse(slot).TryGetValue(out SlotId id, out error))
            {
                return error;
            }

            if (_daemon.Slots.Get(id) is not { } record)
            {
                return KheishError.Unavailable("mcp_secret_ref_missing", $"mcp server `{server}` references missing slot `{slot}`; set it with 'kheish-daemon mcp auth set' or 'secrets set'");
            }

            if (record.SecretValue() is not { Length: > 0 } value)
            {
                return KheishError.Unavailable("credential_unavailable", $"mcp server `{server}`: slot `{slot}` holds no single secret value (provider {record.Provider.Name()}, mode {record.Mode.Name()})");
            }

            secrets.Add(new InjectedSecret(target, slot, value));
        }

        return secrets;
    }

    public async Task<Result<InjectedSecret>> ResolveOauthAsync(McpServerDefinition def, CancellationToken ct)
    {
        string server = def.Name;
        string slot = def.OauthSlotRef ?? string.Empty;
        if (_daemon.Broker.IsSubjectRevoked(SubjectId.ForMcpServer(server)))
        {
            return BrokerErrors.SubjectWasRevoked(SubjectId.ForMcpServer(server).Value);
        }

        if (_daemon.StoreUnavailable is not null || _daemon.Accounts is not { } accounts)
        {
            return KheishError.Unavailable("credential_unavailable", $"mcp server `{server}`: the secret store is not readable (no master key configured)");
        }

        if (_daemon.Broker.CheckSlot(slot) is { } revoked)
        {
            return revoked;
        }

        if (!SlotId.Parse(slot).TryGetValue(out SlotId id, out KheishError? error))
        {
            return error;
        }

        string login = $"'kheish-daemon mcp oauth login {McpOauthAccount.IdOf(slot)} --url {def.Url}'";
        if (_daemon.Slots.Get(id) is not { } record)
        {
            return KheishError.Unavailable("mcp_secret_ref_missing", $"mcp server `{server}` references missing MCP OAuth account `{slot}`; create it with {login}");
        }

        if (!AccountState.FromSlot(record).TryGetValue(out AccountState? state, out error) || state.Mcp is not { } account)
        {
            return KheishError.Unavailable("mcp_oauth_not_an_account", $"mcp server `{server}`: slot `{slot}` is not an MCP OAuth account (provider {record.Provider.Name()}); create it with {login}");
        }

        // The lease is bound to what the config asks for: this server, this slot, these scopes.
        IReadOnlyList<string> wanted = def.OauthScopes is { Count: > 0 } configured ? configured : account.RequestedScopes;
        if (!_daemon.Broker.IssueMcpLease(SubjectId.ForMcpServer(server), CredentialScope.Unrestricted, server, slot, wanted, LeaseTtl, inProcess: true)
                .TryGetValue(out IssuedLease? lease, out error))
        {
            return error;
        }

        // ... and spent against what the account is: a mismatch refuses, naming what differs.
        if (!string.Equals(account.ServerName, server, StringComparison.Ordinal))
        {
            return KheishError.Forbidden("mcp_oauth_server_mismatch",
                $"mcp server `{server}`: account `{slot}` was logged in for server `{McpServerValidator.Printable(account.ServerName)}`, not this one; log in for it with {login}");
        }

        if (!SameResource(def.EffectiveOauthResource, account.Resource))
        {
            return KheishError.Forbidden("mcp_oauth_resource_mismatch",
                $"mcp server `{server}`: account `{slot}` is bound to resource {account.Resource}, the config names {def.EffectiveOauthResource}; log in again with {login}");
        }

        if (ScopeList.NotHeld(wanted, state.Scopes) is { Count: > 0 } missing)
        {
            return KheishError.Forbidden("mcp_oauth_scope_mismatch",
                $"mcp server `{server}`: `oauth_scopes` asks for {string.Join(' ', missing.Select(McpServerValidator.Printable))}, which account `{slot}` does not hold; " +
                $"an operator must log in again with {login} --scopes ... (agents cannot consent to broader scopes)");
        }

        if (!_daemon.Broker.Validate(lease.Token, new McpServerAudience(account.ServerName, record.SlotId.Value, McpServerAudience.HashScopes(wanted))).TryGetValue(out _, out error))
        {
            return error;
        }

        Result<AccountAccess> access = await accounts.GetAccessAsync(id, ct).ConfigureAwait(false);
        return access.TryGetValue(out AccountAccess? usable, out error)
            ? new InjectedSecret("Authorization", slot, usable.AccessToken)
            : error;
    }

    /// <summary>RFC 8707 resources compared as URIs: scheme and host case-insensitive, one trailing slash ignored.</summary>
    private static bool SameResource(string? a, string b) =>
        Uri.TryCreate(a, UriKind.Absolute, out Uri? x) && Uri.TryCreate(b, UriKind.Absolute, out Uri? y)
        && string.Equals(x.GetLeftPart(UriPartial.Authority), y.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase)
        && string.Equals(x.PathAndQuery.TrimEnd('/'), y.PathAndQuery.TrimEnd('/'), StringComparison.Ordinal);

    private async Task OnSlotChangedAsync(string slotId)
    {
        foreach (McpUpstream up in _upstreams.Values.Where(u => u.Definition.SecretRefs().Contains(slotId, StringComparer.Ordinal)))
        {
            // Rotation: the running child holds the old value; the next use starts it with the new one.
            LogRestartForSlot(_logger, up.Name, slotId);
            await up.StopAsync(null).ConfigureAwait(false);
        }
    }

    private async Task OnSlotRevokedAsync(string slotId)
    {
        foreach (McpUpstream up in _upstreams.Values.Where(u => u.Definition.SecretRefs().Contains(slotId, StringComparer.Ordinal)))
        {
            LogStoppedForRevocation(_logger, up.Name, "slot " + slotId);
            await up.StopAsync($"auth slot `{slotId}` has been revoked; rewrite the slot to start it again").ConfigureAwait(false);
        }
    }

    private async Task OnSubjectRevokedAsync(SubjectId subject)
    {
        foreach (McpUpstream up in _upstreams.Values.Where(u => SubjectId.ForMcpServer(u.Name) == subject))
        {
            LogStoppedForRevocation(_logger, up.Name, "subject " + subject.Value);
            await up.StopAsync($"its subject `{subject.Value}` has been revoked").ConfigureAwait(false);
        }
    }

    /// <summary>What is scrubbed from this server's answers: what it was given, and every stored value of 8+ characters.</summary>
    private IEnumerable<RedactionSecret> SecretsFor(McpUpstream up)
    {
        foreach (InjectedSecret s in up.Injected)
        {
            yield return new RedactionSecret(s.SlotId, s.Value);
        }

        foreach (SlotRecord record in _daemon.Slots.List())
        {
            if (record.SecretValue() is { Length: >= McpRedactor.MinStoredLength } v)
            {
                yield return new RedactionSecret(record.SlotId.Value, v);
            }
        }
    }

    /// <summary>Serializes <paramref name="value"/> as the agent would receive it, scrubs echoed secrets, and reads it back.</summary>
    public T Redact<T>(McpUpstream up, T value, JsonTypeInfo<T> type, out string digest)
    {
        string json = JsonSerializer.Serialize(value, type);
        (string redacted, IReadOnlyList<string> slots) = McpRedactor.Redact(json, SecretsFor(up));
        digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(redacted)));
        if (slots.Count == 0)
        {
            return value;
        }

        Interlocked.Increment(ref _redactions);
        LogRedacted(_logger, up.Name, string.Join(",", slots));
        return JsonSerializer.Deserialize(redacted, type)!;
    }

    // ------------------------------------------------------------------ names and scope

    public static bool TrySplit(string qualified, out string server, out string name)
    {
        int at = qualified.IndexOf(Separator, StringComparison.Ordinal);
        server = at > 0 ? qualified[..at] : "";
        name = at > 0 ? qualified[(at + Separator.Length)..] : "";
        return at > 0 && name.Length > 0;
    }

    /// <summary>The upstreams a scope allows, in name order.</summary>
    public IEnumerable<McpUpstream> Visible(CredentialScope scope) =>
        Servers.Where(u => scope.AllowsMcpServer(u.Name));

    /// <summary>The server named by a qualified name, when it exists and the scope allows it; unknown and denied look the same.</summary>
    public Result<(McpUpstream Server, string Name)> Route(McpCaller caller, string qualified, string what)
    {
        if (TrySplit(qualified, out string server, out string name) && _upstreams.TryGetValue(server, out McpUpstream? up)
            && caller.Scope.AllowsMcpServer(server))
        {
            return (up, name);
        }

        return KheishError.NotFound($"mcp_{what}_not_found",
            $"no {what} named `{McpServerValidator.Printable(qualified)}` is available to this caller (names are <server>__<{what}>; list them first)");
    }

    /// <summary>Tools of every allowed server, renamed <c>&lt;server&gt;__&lt;tool&gt;</c>. A server that cannot start is skipped.</summary>
    public async Task<IReadOnlyList<Tool>> ListToolsAsync(McpCaller caller, CancellationToken ct)
    {
        var tools = new List<Tool>();
        foreach (McpUpstream up in Visible(caller.Scope))
        {
            if (!(await up.EnsureAsync(ct).ConfigureAwait(false)).IsOk)
            {
                continue;
            }

            foreach (Tool t in up.Tools)
            {
                if (DecisionFor(caller, up, t.Name) == ToolDecision.Deny || !caller.Capability.Allows(up.Name + Separator + t.Name))
                {
                    continue;
                }

                tools.Add(new Tool
                {
                    Name = up.Name + Separator + t.Name,
                    Title = t.Title,
                    Description = t.Description,
                    InputSchema = t.InputSchema,
                    OutputSchema = t.OutputSchema,
                    Annotations = t.Annotations,
                });
            }
        }

        return tools;
    }

    // ------------------------------------------------------------------ the call

    /// <param name="keepAlive">Sends a progress notification to the caller while the call is held for approval (null: the caller gave no progress token).</param>
    public async Task<Result<CallToolResult>> CallToolAsync(
        McpCaller caller, string qualified, IDictionary<string, JsonElement>? arguments, CancellationToken ct,
        Func<string, CancellationToken, Task>? keepAlive = null)
    {
        if (!Route(caller, qualified, "tool").TryGetValue(out var routed, out KheishError? error))
        {
            return error;
        }

        (McpUpstream up, string tool) = routed;
        if (!caller.Capability.Allows(up.Name + Separator + tool))
        {
            // Before the lease, the name lookup and the ledger: nothing goes out, and a name outside
            // the scope gets this answer whether the upstream has it or not.
            string shownName = McpServerValidator.Printable(qualified);
            LogCapabilityRefused(_logger, shownName, caller.Subject.Value);
            return KheishError.Forbidden("mcp_tool_outside_capability_scope",
                $"tool `{shownName}` is outside this caller's capability_scope (the API key's tool_allow/tool_deny, intersected with its session's); the call was not made");
        }

        if (!IssueCallLease(caller, up).TryGetValue(out IssuedLease? lease, out error))
        {
            return error;
        }

        if (await CheckSlotsAsync(up).ConfigureAwait(false) is { } revoked)
        {
            return revoked;
        }

        // A name the upstream does not list is refused here, before the ledger: nothing goes out,
        // so there is no external action to audit, and the caller's name never becomes a ledger
        // target or a log line (the error shows it only when short and printable).
        if (!(await up.HasToolAsync(tool, ct).ConfigureAwait(false)).TryGetValue(out bool listed, out error))
        {
            return error;
        }

        if (!listed)
        {
            return KheishError.NotFound("mcp_tool_not_found",
                $"mcp server `{up.Name}` has no tool named `{McpServerValidator.Printable(tool)}` (names are <server>__<tool>; list them first)");
        }

        string requestDigest = ArgumentsDigest.Of(arguments);
        ToolDecision decision = DecisionFor(caller, up, tool);
        if (up.Definition.DecisionFor(tool, out PolicyHook? hook, out string? hookName) == ToolDecision.Hook && decision != ToolDecision.Deny)
        {
            // The hook's answer takes the place of the server's policy; the key's still only tightens it.
            if (!(await AskHookAsync(caller, up, tool, hookName!, hook, requestDigest, arguments, lease, ct).ConfigureAwait(false))
                    .TryGetValue(out PolicyHookVerdict? verdict, out error))
            {
                return error;
            }

            if (verdict.Decision == ToolDecision.Deny)
            {
                string shownTool = McpServerValidator.Printable(tool);
                return KheishError.Forbidden("mcp_tool_denied_by_hook",
                    $"mcp server `{up.Name}`: policy hook `{hookName}` {verdict.Detail}{(verdict.Failed ? ", which denies (fail closed)" : "")}; the call to `{shownTool}` was not made");
            }

            decision = ToolPolicy.Stricter(verdict.Decision, caller.KeyPolicy.Resolve(up.Name + Separator + tool));
        }

        if (decision == ToolDecision.Deny)
        {
            // Refused like an unknown tool: before the ledger, nothing goes out.
            string shown = McpServerValidator.Printable(tool);
            LogPolicyDenied(_logger, up.Name, shown, caller.Subject.Value);
            return KheishError.Forbidden("mcp_tool_denied_by_policy",
                up.Definition.DecisionFor(tool) == ToolDecision.Deny
                    ? $"mcp server `{up.Name}`: its tool_policy denies tool `{shown}`; the call was not made"
                    : $"mcp server `{up.Name}`: this API key's mcp_tool_policy denies tool `{shown}`; the call was not made");
        }

        if (decision == ToolDecision.Approve)
        {
            if (!(await _approvals.HoldAsync(caller, up.Name, tool, requestDigest, arguments, lease.Grant.Id, lease.Lease.Id, up.Definition.ApprovalTimeout)
                    .ConfigureAwait(false)).TryGetValue(out HeldCall? held, out error))
            {
                return error;
            }

            ApprovalOutcome outcome = await _approvals.WaitAsync(held, keepAlive, ct).ConfigureAwait(false);
            string about = $"the call to `{up.Name}{Separator}{McpServerValidator.Printable(tool)}` (approval {held.Entry.Id})";
            string why = outcome.Reason is { } r ? ": " + r : "";
            switch (outcome.Status)
            {
                case ApprovalStatus.Denied:
                    return KheishError.Forbidden("mcp_approval_denied", $"{about} was denied by {outcome.DecidedBy}{why}; it was not made");
                case ApprovalStatus.Expired:
                    return KheishError.Unavailable("mcp_approval_timeout", $"{about} got no decision within {(int)up.Definition.ApprovalTimeout.TotalSeconds} s (approval_timeout_sec); it was not made");
                case ApprovalStatus.Cancelled:
                    return KheishError.Unavailable("mcp_approval_cancelled", $"{about} was cancelled by the caller while held; it was not made");
                case ApprovalStatus.Abandoned:
                    return KheishError.Unavailable("mcp_approval_abandoned", $"{about} was still held when the daemon stopped; it was not made and never will be");
            }

            // Approved: exactly this call, with the arguments recorded when it was held, and a
            // fresh lease (a subject or slot revoked meanwhile refuses here).
            arguments = held.Arguments;
            if (!IssueCallLease(caller, up).TryGetValue(out lease, out error))
            {
                return error;
            }

            if (await CheckSlotsAsync(up).ConfigureAwait(false) is { } revokedSince)
            {
                return revokedSince;
            }
        }

        // The key id makes the call count against the key's budget again after a restart.
        ExternalActionEvent started = caller.Started(Kind, up.Name + "/" + tool, lease.Grant.Id, lease.Lease.Id, requestDigest) with { ApiKeyId = caller.ApiKeyId };
        // As in the egress proxy: counted in one step with the daily request budget before the
        // started record, so calls in flight together cannot all pass it.
        DateTimeOffset countedAt = _daemon.Clock.GetUtcNow();
        if (caller.ApiKeyId is { } keyId && _daemon.Limits.Usage.TryCountRequest(keyId, Core.Limits.UsageBook.McpRoute, countedAt, caller.RequestsPerDay) is { } exhausted)
        {
            _daemon.Metrics.Limited(keyId, exhausted.Error.Code);
            return exhausted.Error;
        }

        if (!(await _daemon.Ledger.AppendAsync(started, CancellationToken.None).ConfigureAwait(false)).TryGetValue(out _, out error))
        {
            // Never unaudited: without a durable started record the call is not made (nor counted).
            if (caller.ApiKeyId is { } uncounted)
            {
                _daemon.Limits.Usage.UncountRequest(uncounted, Core.Limits.UsageBook.McpRoute, countedAt);
            }

            LogAuditRefused(_logger, up.Name, error.Code);
            return error;
        }

        Result<CallToolResult> result = await up.CallToolAsync(tool, arguments, ct).ConfigureAwait(false);
        if (!result.TryGetValue(out CallToolResult? answer, out error))
        {
            await AppendOutcomeAsync(started with { Phase = ActionPhase.Failed, Outcome = error.Code }, soon: false).ConfigureAwait(false);
            return error with { Message = McpRedactor.Redact(error.Message, SecretsFor(up)).Json };
        }

        CallToolResult safe = Redact(up, answer, CallToolResultType, out string responseDigest);
        // As in the egress proxy: the started record was durable before the call went out; the
        // completed record is appended off the answer's path and joins the bucket's next group
        // commit, so a call pays one durable write, not two. A graceful shutdown drains queued
        // appends; a crash in between leaves a started record without an outcome, which reads as
        // "unknown".
        ExternalActionEvent completed = started with
        {
            Phase = ActionPhase.Completed,
            ResponseDigest = responseDigest,
            Outcome = safe.IsError == true ? "tool_error" : "ok",
        };
        _ = AppendOutcomeAsync(completed, soon: true);
        return safe;
    }

    /// <summary>
    /// Asks the server's policy hook about this call. Its started record (kind
    /// <c>mcp_tool_policy_hook</c>, outcome <c>hook:&lt;name&gt; requested</c>) is durable before the
    /// hook runs; its answer is recorded (completed for allow/deny/approve, failed for a hook that
    /// failed and so denied) before the call goes on. Both carry the argument digest and the lease.
    /// </summary>
    private async Task<Result<PolicyHookVerdict>> AskHookAsync(
        McpCaller caller, McpUpstream up, string tool, string hookName, PolicyHook? hook, string argsDigest,
        IDictionary<string, JsonElement>? arguments, IssuedLease lease, CancellationToken ct)
    {
        ExternalActionEvent started = caller.Started(HookKind, up.Name + "/" + tool, lease.Grant.Id, lease.Lease.Id, argsDigest) with
        {
            Outcome = $"hook:{hookName} requested",
        };
        if (!(await _daemon.Ledger.AppendAsync(started, CancellationToken.None).ConfigureAwait(false)).TryGetValue(out _, out KheishError? error))
        {
            LogAuditRefused(_logger, up.Name, error.Code);
            return error;
        }

        PolicyHookVerdict verdict = hook is null
            ? new PolicyHookVerdict(ToolDecision.Deny, "hook_undefined", "is not defined", true)
            : await PolicyHookRunner.RunAsync(
                hook,
                new PolicyHookCall(hookName, up.Name, tool, argsDigest, arguments, caller.Subject.Value)
                {
                    ParentPrincipalId = caller.Parent?.Value,
                    RunId = caller.Ids.RunId,
                    SessionId = caller.Ids.SessionId,
                    AgentId = caller.Ids.AgentId,
                    ToolCallId = caller.Ids.ToolCallId,
                },
                _shimPath,
                ct).ConfigureAwait(false);
        ExternalActionEvent answered = started with
        {
            Phase = verdict.Failed ? ActionPhase.Failed : ActionPhase.Completed,
            Outcome = $"hook:{hookName} {verdict.Outcome}",
        };
        if (!(await _daemon.Ledger.AppendAsync(answered, CancellationToken.None).ConfigureAwait(false)).TryGetValue(out _, out error))
        {
            // An unrecorded answer is no answer: the call is not made.
            LogAuditRefused(_logger, up.Name, error.Code);
            return error;
        }

        string shown = McpServerValidator.Printable(tool);
        LogHookAnswered(_logger, up.Name, shown, hookName, verdict.Outcome, caller.Subject.Value);
        return verdict;
    }

    /// <summary>The server's tool_policy for <paramref name="tool"/>, tightened (never widened) by the caller's key policy.</summary>
    private static ToolDecision DecisionFor(McpCaller caller, McpUpstream up, string tool) =>
        ToolPolicy.Stricter(up.Definition.DecisionFor(tool), caller.KeyPolicy.Resolve(up.Name + Separator + tool));

    /// <summary>The call's MCP lease, issued to the caller and spent at once (revoked subjects and parents refuse).</summary>
    private Result<IssuedLease> IssueCallLease(McpCaller caller, McpUpstream up)
    {
        if (caller.Parent is { } parent && _daemon.Broker.IsSubjectRevoked(parent))
        {
            return BrokerErrors.SubjectWasRevoked(parent.Value);
        }

        IReadOnlyList<string> refs = up.Definition.SecretRefs();
        string leaseSlot = up.Definition.OauthSlotRef ?? (refs.Count > 0 ? refs[0] : "none:" + up.Name);
        IReadOnlyList<string> scopes = up.Definition.OauthScopes ?? [];
        if (!_daemon.Broker.SpendMcpLease(caller.Subject, caller.Scope, up.Name, leaseSlot, scopes, LeaseTtl).TryGetValue(out IssuedLease? lease, out KheishError? error))
        {
            return error;
        }

        return lease;
    }

    private async Task<KheishError?> CheckSlotsAsync(McpUpstream up)
    {
        foreach (string slot in up.Definition.SecretRefs())
        {
            if (_daemon.Broker.CheckSlot(slot) is { } revoked)
            {
                await up.StopAsync($"auth slot `{slot}` has been revoked; rewrite the slot to start it again").ConfigureAwait(false);
                return revoked;
            }
        }

        return null;
    }

    private async Task AppendOutcomeAsync(ExternalActionEvent ev, bool soon)
    {
        Task<Result<LedgerRecord>> append = soon ? _daemon.Ledger.AppendSoonAsync(ev) : _daemon.Ledger.AppendAsync(ev, CancellationToken.None);
        if (!(await append.ConfigureAwait(false)).TryGetValue(out _, out KheishError? error))
        {
            LogOutcomeNotRecorded(_logger, ev.Target, ExternalActionEvent.PhaseName(ev.Phase), error.Code);
        }
    }

    /// <summary>Maps a refusal to the JSON-RPC error an MCP client gets.</summary>
    public static McpProtocolException ToProtocolError(KheishError error) => new(
        $"{error.Message} [{error.Code}]",
        error.Kind switch
        {
            ErrorKind.NotFound or ErrorKind.BadRequest => McpErrorCode.InvalidParams,
            ErrorKind.Forbidden => McpErrorCode.InvalidRequest,
            _ => McpErrorCode.InternalError,
        });

    private static JsonTypeInfo<T> Type<T>() => (JsonTypeInfo<T>)McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(T));

    public async ValueTask DisposeAsync()
    {
        foreach (McpUpstream up in _upstreams.Values)
        {
            await up.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 1316, Level = LogLevel.Information, Message = "mcp tool call {Name} of {Principal} refused: outside its capability scope")]
    private static partial void LogCapabilityRefused(ILogger logger, string name, string principal);

    [LoggerMessage(EventId = 1317, Level = LogLevel.Information, Message = "mcp tool call {Server}/{Tool} of {Principal}: policy hook {Hook} answered {Outcome}")]
    private static partial void LogHookAnswered(ILogger logger, string server, string tool, string hook, string outcome, string principal);

    [LoggerMessage(EventId = 1315, Level = LogLevel.Information, Message = "mcp tool call {Server}/{Tool} of {Principal} refused: denied by tool policy")]
    private static partial void LogPolicyDenied(ILogger logger, string server, string tool, string principal);

    [LoggerMessage(EventId = 1310, Level = LogLevel.Warning, Message = "mcp tool call on {Server} refused: the started record could not be written ({Code})")]
    private static partial void LogAuditRefused(ILogger logger, string server, string code);

    [LoggerMessage(EventId = 1311, Level = LogLevel.Warning, Message = "mcp tool call {Target}: the {Phase} record could not be written ({Code})")]
    private static partial void LogOutcomeNotRecorded(ILogger logger, string target, string phase, string code);

    [LoggerMessage(EventId = 1312, Level = LogLevel.Warning, Message = "mcp server {Server} echoed secret(s) of slot(s) {Slots}; redacted before reaching the caller")]
    private static partial void LogRedacted(ILogger logger, string server, string slots);

    [LoggerMessage(EventId = 1314, Level = LogLevel.Information, Message = "mcp server {Server} stopped: {What} was revoked")]
    private static partial void LogStoppedForRevocation(ILogger logger, string server, string what);

    [LoggerMessage(EventId = 1313, Level = LogLevel.Information, Message = "mcp server {Server} stopped: slot {Slot} changed; it starts again with the new value on next use")]
    private static partial void LogRestartForSlot(ILogger logger, string server, string slot);
}
