using System.Collections.Concurrent;
using System.Text.Json;
using Kheish.Core.Audit;
using Kheish.Core.Errors;
using Kheish.Core.Mcp;
using Kheish.Core.Policy;
using Kheish.Core.Text;

namespace Kheish.Daemon.Http.Mcp;

internal enum ApprovalStatus
{
    Pending,
    Approved,
    Denied,
    Expired,
    Cancelled,

    /// <summary>The daemon stopped while the call was held: failed now, recorded as abandoned at the next start.</summary>
    Abandoned,
}

internal sealed record ApprovalOutcome(ApprovalStatus Status, string DecidedBy, string? Reason);

/// <summary>One tool call held for an operator's decision, with the arguments it will run with.</summary>
internal sealed class HeldCall(PendingApprovalEntry entry, IDictionary<string, JsonElement>? arguments)
{
    internal readonly Lock Gate = new();
    internal readonly TaskCompletionSource<ApprovalOutcome> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    internal bool Closing;

    public PendingApprovalEntry Entry { get; } = entry;

    /// <summary>The arguments as recorded when the call was held: the call runs with these, whatever the agent does later.</summary>
    public IDictionary<string, JsonElement>? Arguments { get; } = arguments;

    public ApprovalStatus Status { get; internal set; } = ApprovalStatus.Pending;

    public string? DecidedBy { get; internal set; }

    public long? DecidedAtMs { get; internal set; }

    public string? Reason { get; internal set; }
}

/// <summary>
/// Tool calls an <c>approve</c> policy holds. A held call's <c>approval_requested</c> record
/// (kind <c>mcp_tool_approval</c>, phase started) is durable, and it is in
/// <c>mcp-approvals.json</c>, before anyone can see it; its id is that record's
/// <c>action_id</c>. Exactly one outcome closes it — approved or denied by an operator
/// (completed, naming the control-plane principal), timed out or cancelled (failed) — and its
/// record carries the same lease id and argument digest as the request. An approval opens only
/// the call that was held, with the arguments recorded then. What a restart finds still
/// pending is closed as <c>approval_abandoned</c> and never run.
/// </summary>
internal sealed partial class McpApprovals
{
    public const string Kind = "mcp_tool_approval";
    public const int MaxReasonLength = 200;
    private const int MaxRecent = 200;
    private static readonly TimeSpan KeepAliveInterval = TimeSpan.FromSeconds(10);

    private readonly DaemonContext _daemon;
    private readonly PendingApprovalsStore _store;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, HeldCall> _calls = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _closed = new();

    public McpApprovals(DaemonContext daemon, ILoggerFactory loggers)
    {
        _daemon = daemon;
        _store = new PendingApprovalsStore(daemon.StateRoot);
        _logger = loggers.CreateLogger("Kheish.Mcp.Approvals");
    }

    /// <summary>Pending calls and the most recently closed ones, oldest request first.</summary>
    public IReadOnlyList<HeldCall> List() =>
        [.. _calls.Values.OrderBy(c => c.Entry.RequestedAtMs).ThenBy(c => c.Entry.Id, StringComparer.Ordinal)];

    public static string StatusName(ApprovalStatus s) => s switch
    {
        ApprovalStatus.Pending => "pending",
        ApprovalStatus.Approved => "approved",
        ApprovalStatus.Denied => "denied",
        ApprovalStatus.Expired => "expired",
        ApprovalStatus.Cancelled => "cancelled",
        _ => "abandoned",
    };

    /// <summary>
    /// At shutdown: every call still pending fails now (its request ends), with no record — the
    /// entries stay in the pending file, and the next start records each as abandoned.
    /// </summary>
    public void AbandonAll()
    {
        foreach (HeldCall call in _calls.Values)
        {
            lock (call.Gate)
            {
                if (call.Status != ApprovalStatus.Pending || call.Closing)
                {
                    continue;
                }

                call.Status = ApprovalStatus.Abandoned;
                call.DecidedBy = Kheish.Core.Broker.SubjectId.Daemon;
            }

            call.Done.TrySetResult(new ApprovalOutcome(ApprovalStatus.Abandoned, Kheish.Core.Broker.SubjectId.Daemon, null));
        }
    }

    /// <summary>
    /// At startup, before the listener opens: every approval the last run left undecided gets its
    /// failed <c>approval_abandoned</c> record. Returns how many. Only an unreadable pending file
    /// is an error (serve refuses to start, naming it).
    /// </summary>
    public async Task<Result<int>> RecoverAsync()
    {
        if (!_store.Load().TryGetValue(out IReadOnlyList<PendingApprovalEntry>? left, out KheishError? error))
        {
            return error;
        }

        int closed = 0;
        foreach (PendingApprovalEntry entry in left)
        {
            ExternalActionEvent ev = Event(entry, ActionPhase.Failed, Kheish.Core.Broker.SubjectId.Daemon, "approval_abandoned");
            if (!(await _daemon.Ledger.AppendAsync(ev, CancellationToken.None).ConfigureAwait(false)).TryGetValue(out _, out error))
            {
                // Its bucket is unavailable: the call never runs either way; the entry stays, so a
                // later start records it once the bucket is repaired. Other buckets are not held up.
                LogOutcomeNotRecorded(_logger, entry.Id, "approval_abandoned", error.Code);
                continue;
            }

            if (!_store.Remove(entry.Id).TryGetValue(out _, out error))
            {
                return error;
            }

            LogAbandoned(_logger, entry.Id, entry.Server, entry.Tool);
            closed++;
        }

        return closed;
    }

    /// <summary>Records the request durably, remembers it in the pending file, then makes it visible.</summary>
    public async Task<Result<HeldCall>> HoldAsync(
        McpCaller caller, string server, string tool, string argsDigest, IDictionary<string, JsonElement>? arguments,
        string? grantId, string? leaseId, TimeSpan timeout)
    {
        long now = _daemon.Clock.GetUtcNow().ToUnixTimeMilliseconds();
        ExternalActionEvent requested = caller.Started(Kind, server + "/" + tool, grantId, leaseId, argsDigest) with
        {
            Outcome = "approval_requested",
        };
        if (!(await _daemon.Ledger.AppendAsync(requested, CancellationToken.None).ConfigureAwait(false)).TryGetValue(out LedgerRecord? record, out KheishError? error))
        {
            return error;
        }

        var entry = new PendingApprovalEntry(record.ActionId, server, tool, argsDigest, caller.Subject.Value, now, now + (long)timeout.TotalMilliseconds)
        {
            ParentPrincipalId = caller.Parent?.Value,
            RunId = caller.Ids.RunId,
            SessionId = caller.Ids.SessionId,
            AgentId = caller.Ids.AgentId,
            ToolCallId = caller.Ids.ToolCallId,
            GrantId = grantId,
            LeaseId = leaseId,
        };
        if (!_store.Add(entry).TryGetValue(out _, out error))
        {
            // Not remembered, so not held: close it now rather than leave a request nobody can decide.
            await AppendAsync(Event(entry, ActionPhase.Failed, Kheish.Core.Broker.SubjectId.Daemon, "approval_failed")).ConfigureAwait(false);
            return error;
        }

        var call = new HeldCall(entry, arguments);
        _calls[entry.Id] = call;
        LogHeld(_logger, entry.Id, server, tool, entry.PrincipalId);
        return call;
    }

    /// <summary>
    /// Waits for the outcome: a decision, the timeout, or the caller going away. While waiting,
    /// <paramref name="keepAlive"/> (progress notifications) is called at once and every 10 s.
    /// </summary>
    public async Task<ApprovalOutcome> WaitAsync(HeldCall call, Func<string, CancellationToken, Task>? keepAlive, CancellationToken ct)
    {
        DateTimeOffset expires = DateTimeOffset.FromUnixTimeMilliseconds(call.Entry.ExpiresAtMs);
        DateTimeOffset nextKeepAlive = DateTimeOffset.MinValue;
        while (true)
        {
            if (call.Done.Task.IsCompleted)
            {
                return await call.Done.Task.ConfigureAwait(false);
            }

            DateTimeOffset now = _daemon.Clock.GetUtcNow();
            if (ct.IsCancellationRequested || now >= expires)
            {
                ApprovalStatus status = ct.IsCancellationRequested ? ApprovalStatus.Cancelled : ApprovalStatus.Expired;
                if ((await CloseAsync(call, status, Kheish.Core.Broker.SubjectId.Daemon, null).ConfigureAwait(false)).TryGetValue(out ApprovalOutcome? mine, out _))
                {
                    return mine;
                }

                // A decision is being recorded; its outcome (or its failure, which reopens the call) follows.
                await Task.WhenAny(call.Done.Task, Task.Delay(TimeSpan.FromMilliseconds(50), _daemon.Clock, CancellationToken.None)).ConfigureAwait(false);
                continue;
            }

            if (keepAlive is not null && now >= nextKeepAlive)
            {
                nextKeepAlive = now + KeepAliveInterval;
                long left = Math.Max(0, (long)(expires - now).TotalSeconds);
                try
                {
                    await keepAlive($"held for approval {call.Entry.Id} of {call.Entry.Server}__{call.Entry.Tool}; an operator runs 'kheish-daemon approvals approve|deny {call.Entry.Id}' (expires in {left} s)", ct).ConfigureAwait(false);
                }
#pragma warning disable CA1031 // A keep-alive the client cannot take changes nothing: the call stays held until its outcome.
                catch (Exception)
#pragma warning restore CA1031
                {
                }
            }

            TimeSpan wait = expires - now < KeepAliveInterval ? expires - now : KeepAliveInterval;
            try
            {
                await call.Done.Task.WaitAsync(wait < TimeSpan.Zero ? TimeSpan.Zero : wait, _daemon.Clock, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    /// <summary>An operator's decision (<c>POST /v1/runtime/approvals/{id}/approve|deny</c>).</summary>
    public async Task<Result<HeldCall>> DecideAsync(string id, bool approve, string approver, string? reason)
    {
        if (id.Length != LedgerEncodingHexLength || !id.All(char.IsAsciiHexDigitLower))
        {
            return KheishError.BadRequest("invalid_approval_id", "an approval id is 64 lowercase hex characters (see 'kheish-daemon approvals list')");
        }

        if (reason is not null && (reason.Length is 0 or > MaxReasonLength || ControlCharacters.In(reason) || reason.Any(char.IsSurrogate)))
        {
            return KheishError.BadRequest("invalid_reason", $"`reason` must be 1 to {MaxReasonLength} characters without control characters");
        }

        if (!_calls.TryGetValue(id, out HeldCall? call))
        {
            return KheishError.NotFound("approval_not_found",
                $"no approval `{id}` on this daemon (held calls end with a restart; list them with 'kheish-daemon approvals list')");
        }

        Result<ApprovalOutcome> closed = await CloseAsync(call, approve ? ApprovalStatus.Approved : ApprovalStatus.Denied, approver, reason).ConfigureAwait(false);
        return closed.TryGetValue(out _, out KheishError? error) ? call : error;
    }

    private const int LedgerEncodingHexLength = 64;

    /// <summary>The one transition out of pending: its record durable first, then the outcome released.</summary>
    private async Task<Result<ApprovalOutcome>> CloseAsync(HeldCall call, ApprovalStatus status, string by, string? reason)
    {
        lock (call.Gate)
        {
            if (call.Status != ApprovalStatus.Pending || call.Closing)
            {
                return KheishError.Conflict("approval_already_decided", call.Status == ApprovalStatus.Pending
                    ? $"approval `{call.Entry.Id}` is being decided right now"
                    : $"approval `{call.Entry.Id}` is already {StatusName(call.Status)}" + (call.DecidedBy is { } who && call.Status is ApprovalStatus.Approved or ApprovalStatus.Denied ? $" (by {who})" : "") + "; nothing changed");
            }

            call.Closing = true;
        }

        string outcome = status switch
        {
            ApprovalStatus.Approved => "approved",
            ApprovalStatus.Denied => "denied",
            ApprovalStatus.Expired => "approval_timeout",
            _ => "approval_cancelled",
        };
        if (reason is not null)
        {
            outcome += ": " + reason;
        }

        bool decision = status is ApprovalStatus.Approved or ApprovalStatus.Denied;
        ExternalActionEvent ev = Event(call.Entry, decision ? ActionPhase.Completed : ActionPhase.Failed, by, outcome);
        if (!(await _daemon.Ledger.AppendAsync(ev, CancellationToken.None).ConfigureAwait(false)).TryGetValue(out _, out KheishError? error))
        {
            LogOutcomeNotRecorded(_logger, call.Entry.Id, outcome, error.Code);
            if (decision)
            {
                // An unrecorded decision is no decision: the call stays held, the operator gets the error.
                lock (call.Gate)
                {
                    call.Closing = false;
                }

                return error;
            }

            // The call fails either way; it stays in the pending file, so the next start records it abandoned.
        }
        else if (!_store.Remove(call.Entry.Id).TryGetValue(out _, out error))
        {
            LogPendingNotRemoved(_logger, call.Entry.Id, error.Code);
        }

        lock (call.Gate)
        {
            call.Status = status;
            call.DecidedBy = by;
            call.DecidedAtMs = _daemon.Clock.GetUtcNow().ToUnixTimeMilliseconds();
            call.Reason = reason;
            call.Closing = false;
        }

        var result = new ApprovalOutcome(status, by, reason);
        call.Done.TrySetResult(result);
        LogClosed(_logger, call.Entry.Id, outcome, by);
        _closed.Enqueue(call.Entry.Id);
        while (_closed.Count > MaxRecent && _closed.TryDequeue(out string? old))
        {
            _calls.TryRemove(old, out _);
        }

        return result;
    }

    private static ExternalActionEvent Event(PendingApprovalEntry e, ActionPhase phase, string principal, string outcome) =>
        new(phase, Kind, e.Server + "/" + e.Tool)
        {
            RunId = e.RunId,
            SessionId = e.SessionId,
            AgentId = e.AgentId,
            ToolCallId = e.ToolCallId,
            PrincipalId = principal,
            GrantId = e.GrantId,
            LeaseId = e.LeaseId,
            RequestDigest = e.ArgsDigest,
            Outcome = outcome,
        };

    private async Task AppendAsync(ExternalActionEvent ev)
    {
        if (!(await _daemon.Ledger.AppendAsync(ev, CancellationToken.None).ConfigureAwait(false)).TryGetValue(out _, out KheishError? error))
        {
            LogOutcomeNotRecorded(_logger, "-", ev.Outcome ?? "-", error.Code);
        }
    }

    [LoggerMessage(EventId = 1320, Level = LogLevel.Information, Message = "mcp tool call {Server}/{Tool} of {Principal} held for approval {Id}")]
    private static partial void LogHeld(ILogger logger, string id, string server, string tool, string principal);

    [LoggerMessage(EventId = 1321, Level = LogLevel.Information, Message = "approval {Id} closed: {Outcome} (by {By})")]
    private static partial void LogClosed(ILogger logger, string id, string outcome, string by);

    [LoggerMessage(EventId = 1322, Level = LogLevel.Warning, Message = "approval {Id}: the {Outcome} record could not be written ({Code})")]
    private static partial void LogOutcomeNotRecorded(ILogger logger, string id, string outcome, string code);

    [LoggerMessage(EventId = 1323, Level = LogLevel.Warning, Message = "approval {Id}: could not be removed from the pending file ({Code}); the next start records it abandoned")]
    private static partial void LogPendingNotRemoved(ILogger logger, string id, string code);

    [LoggerMessage(EventId = 1324, Level = LogLevel.Warning, Message = "approval {Id} for {Server}/{Tool} was still pending when the daemon stopped: recorded as approval_abandoned; the call never runs")]
    private static partial void LogAbandoned(ILogger logger, string id, string server, string tool);
}
