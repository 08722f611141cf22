using System.Collections.Concurrent;
using Kheish.Core.Audit;
using Kheish.Core.Errors;
using Kheish.Core.Secrets;

namespace Kheish.Core.Accounts;

/// <summary>
/// Keeps imported Codex and Claude Code accounts usable. The daemon is the only holder of each
/// account's rotating, single-use refresh token, so the rules are strict:
/// <list type="bullet">
/// <item>single flight per slot: callers that need a refresh while one is running wait for it and
/// share its outcome; a forced refresh is satisfied by any refresh that started after it arrived;</item>
/// <item>the new token pair is written to the store (atomic, fsynced) before the new access token
/// is handed to anyone; if the write fails the tokens are not used;</item>
/// <item>a failed refresh keeps the previous tokens and records <c>failure</c> with a redacted
/// reason; scopes the account did not hold before are refused;</item>
/// <item>a background pass refreshes accounts ahead of expiry so calls rarely wait.</item>
/// </list>
/// A token rotation is not an operator rewrite: it never lifts a slot's revocation, and a
/// revoked slot is never refreshed. Each token request is an external action in the signed
/// ledger (kind <c>account_refresh</c>): started before it is sent, refused when that fails.
/// </summary>
internal sealed class AccountManager : IDisposable
{
    /// <summary>A call refreshes first when the access token expires within this margin.</summary>
    public static readonly TimeSpan CallMargin = TimeSpan.FromMinutes(5);

    /// <summary>The background pass refreshes accounts expiring within this margin.</summary>
    public static readonly TimeSpan ProactiveMargin = TimeSpan.FromMinutes(10);

    /// <summary>After a failure, unforced refreshes of that slot wait this long before asking again.</summary>
    public static readonly TimeSpan FailureBackoff = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<string, Flight> _flights = new(StringComparer.Ordinal);
    private readonly SlotStore _slots;
    private readonly TokenRefreshClient _client;
    private readonly Func<string, KheishError?> _slotRevoked;
    private readonly TimeProvider _time;
    private readonly Action<AccountRefreshEvent>? _observer;
    private readonly ExternalActionLedger? _ledger;
    private ITimer? _background;
    private int _scanning;

    public const string LedgerKind = "account_refresh";

    public AccountManager(
        SlotStore slots,
        TokenRefreshClient client,
        Func<string, KheishError?> slotRevoked,
        TimeProvider? time = null,
        Action<AccountRefreshEvent>? observer = null,
        ExternalActionLedger? ledger = null)
    {
        _ledger = ledger;
        _slots = slots;
        _client = client;
        _slotRevoked = slotRevoked;
        _time = time ?? TimeProvider.System;
        _observer = observer;
    }

    /// <summary>The access to use for a call now, refreshing first when the token is missing or about to expire.</summary>
    public async Task<Result<AccountAccess>> GetAccessAsync(SlotId id, CancellationToken ct)
    {
        Result<AccountState> state = await RefreshIfDueAsync(id, CallMargin, force: false, "call", ct).ConfigureAwait(false);
        if (!state.TryGetValue(out AccountState? current, out KheishError? error))
        {
            // A refresh that failed while the old token is still valid does not stop the call.
            if (Current(id) is { } old && old.AccessToken.Length > 0 && old.ExpiresAtMs is { } exp && exp > NowMs() + 10_000)
            {
                return new AccountAccess(old.Kind, old.AccessToken, old.AccountId);
            }

            return error;
        }

        return current.AccessToken.Length == 0
            ? KheishError.Unavailable("account_refresh_failed", $"account slot {id} has no access token")
            : new AccountAccess(current.Kind, current.AccessToken, current.AccountId);
    }

    /// <summary>A refresh now, unless one that started after this call arrived already happened.</summary>
    public Task<Result<AccountState>> ForceRefreshAsync(SlotId id, CancellationToken ct) =>
        RefreshIfDueAsync(id, TimeSpan.Zero, force: true, "forced", ct);

    /// <summary>Starts the background pass every <paramref name="interval"/>.</summary>
    public void StartBackground(TimeSpan interval)
    {
        _background?.Dispose();
        _background = _time.CreateTimer(_ => _ = ScanAsync(), null, interval, interval);
    }

    public void Dispose()
    {
        _background?.Dispose();
        _client.Dispose();
    }

    /// <summary>True when a call should refresh before using the state.</summary>
    public static bool IsDue(AccountState state, long nowMs, TimeSpan margin)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.AccessToken.Length == 0)
        {
            return true;
        }

        return state.ExpiresAtMs is { } exp && exp - nowMs <= (long)margin.TotalMilliseconds;
    }

    internal async Task ScanAsync()
    {
        if (Interlocked.Exchange(ref _scanning, 1) == 1)
        {
            return;
        }

        try
        {
            foreach (SlotRecord record in _slots.List())
            {
                if (AccountKinds.Of(record) is null || _slotRevoked(record.SlotId.Value) is not null
                    || !AccountState.FromSlot(record).TryGetValue(out AccountState? state, out _)
                    || !IsDue(state, NowMs(), ProactiveMargin))
                {
                    continue;
                }

                await RefreshIfDueAsync(record.SlotId, ProactiveMargin, force: false, "background", CancellationToken.None).ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // A background pass must never take the daemon down; each slot records its own failure.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
        finally
        {
            Volatile.Write(ref _scanning, 0);
        }
    }

    private async Task<Result<AccountState>> RefreshIfDueAsync(SlotId id, TimeSpan margin, bool force, string trigger, CancellationToken ct)
    {
        Flight flight = _flights.GetOrAdd(id.Value, static _ => new Flight());
        long seen = Volatile.Read(ref flight.Attempts);
        await flight.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // Someone refreshed (or failed to) after we arrived: that attempt answers us too.
            if (Volatile.Read(ref flight.Attempts) != seen && flight.Last is { } shared)
            {
                return shared;
            }

            if (_slots.Get(id) is not { } record)
            {
                return KheishError.NotFound("account_not_found", $"no account slot named {id}");
            }

            if (!AccountState.FromSlot(record).TryGetValue(out AccountState? state, out KheishError? error))
            {
                return error;
            }

            long now = NowMs();
            if (!force && !IsDue(state, now, margin))
            {
                return state;
            }

            if (_slotRevoked(id.Value) is { } revoked)
            {
                return revoked;
            }

            if (!force && flight.Last is { IsOk: false } failed && flight.LastAttemptMs + (long)FailureBackoff.TotalMilliseconds > now)
            {
                return failed;
            }

            Result<AccountState> outcome = await RefreshAsync(id, record, state).ConfigureAwait(false);
            flight.Last = outcome;
            flight.LastAttemptMs = now;
            Interlocked.Increment(ref flight.Attempts);
            _observer?.Invoke(new AccountRefreshEvent(id.Value, trigger, outcome.IsOk, outcome.Error?.Code));
            return outcome;
        }
        finally
        {
            flight.Gate.Release();
        }
    }

    private long _refreshSucceeded;
    private long _refreshFailed;

    /// <summary>Token refreshes that succeeded and failed since start (for <c>GET /metrics</c>).</summary>
    public (long Succeeded, long Failed) RefreshOutcomes => (Interlocked.Read(ref _refreshSucceeded), Interlocked.Read(ref _refreshFailed));

    private async Task<Result<AccountState>> RefreshAsync(SlotId id, SlotRecord record, AccountState state)
    {
        Result<AccountState> result = await RefreshAuditedAsync(id, record, state).ConfigureAwait(false);
        Interlocked.Increment(ref result.IsOk ? ref _refreshSucceeded : ref _refreshFailed);
        return result;
    }

    private async Task<Result<AccountState>> RefreshAuditedAsync(SlotId id, SlotRecord record, AccountState state)
    {
        // Never cancelled by the caller going away: once sent, the old refresh token may be spent,
        // and only saving the answer keeps the account alive. The client has its own timeout.
        Uri url = _client.TokenUrl(state);
        var started = new ExternalActionEvent(ActionPhase.Started, LedgerKind, $"{id.Value} POST {url.GetLeftPart(UriPartial.Path)}") { PrincipalId = "daemon" };
        if (_ledger is { } ledger && !(await ledger.AppendAsync(started, CancellationToken.None).ConfigureAwait(false)).IsOk)
        {
            // Never unaudited: nothing was sent, so the old tokens are intact.
            return RecordFailure(id, record, state, NowMs(), "external action audit unavailable; the token request was not sent");
        }

        Result<AccountState> outcome = await SendAndSaveAsync(id, record, state).ConfigureAwait(false);
        if (_ledger is { } done)
        {
            _ = await done.AppendAsync(
                started with { Phase = outcome.IsOk ? ActionPhase.Completed : ActionPhase.Failed, Outcome = outcome.IsOk ? "refreshed" : "refresh_failed" },
                CancellationToken.None).ConfigureAwait(false);
        }

        return outcome;
    }

    private async Task<Result<AccountState>> SendAndSaveAsync(SlotId id, SlotRecord record, AccountState state)
    {
        Result<RefreshedTokens> response = await _client.RefreshAsync(state, CancellationToken.None).ConfigureAwait(false);
        long now = NowMs();
        if (!response.TryGetValue(out RefreshedTokens? tokens, out KheishError? error))
        {
            return RecordFailure(id, record, state, now, error.Message);
        }

        JwtClaims? claims = state.Kind == AccountKind.Codex ? JwtClaims.TryRead(tokens.AccessToken) : null;
        IReadOnlyList<string>? granted = tokens.Scopes ?? claims?.Scopes;
        if (granted is not null && ScopeList.NotHeld(granted, state.Scopes) is { Count: > 0 } extra)
        {
            return RecordFailure(id, record, state, now,
                $"the token endpoint granted {extra.Count} scope(s) this account did not hold before ({Printable(extra)}); refused, no escalation");
        }

        long? expires = claims?.ExpiresAtMs ?? (tokens.ExpiresInSeconds is { } seconds ? now + (seconds * 1000) : null);
        if (state.Kind == AccountKind.ClaudeCode && expires is null)
        {
            return RecordFailure(id, record, state, now, "the token response has no expires_in");
        }

        if (state.Kind == AccountKind.McpOauth && tokens.TokenType is { } type && !string.Equals(type, "Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return RecordFailure(id, record, state, now, $"the token endpoint issued a token of type `{Printable([type])}`, not Bearer");
        }

        AccountState next = state with
        {
            AccessToken = tokens.AccessToken,
            RefreshToken = tokens.RefreshToken ?? state.RefreshToken,
            IdToken = tokens.IdToken ?? state.IdToken,
            AccountId = state.AccountId ?? JwtClaims.TryRead(tokens.IdToken)?.ChatGptAccountId ?? claims?.ChatGptAccountId,
            ExpiresAtMs = expires,
            Scopes = granted is { Count: > 0 } ? granted : state.Scopes,
            LastRefreshAtMs = now,
            LastRefreshOutcome = AccountState.SuccessOutcome,
            LastRefreshError = null,
        };
        if (!AccountState.FromJson(next.Kind, next.ToJson(), id.Value).IsOk)
        {
            return RecordFailure(id, record, state, now, "the token response holds values that cannot be stored or sent");
        }

        // Durable before use: the rotated refresh token is the only one that works from now on.
        Result<SlotRecord> written = _slots.ReplaceIfCurrent(record, next.ToRecord(id));
        return written.IsOk
            ? next
            : KheishError.Unavailable("account_refresh_failed", $"account slot {id} was refreshed but could not be saved ({written.Error.Code}); the new tokens were not used");
    }

    private KheishError RecordFailure(SlotId id, SlotRecord record, AccountState state, long now, string reason)
    {
        string redacted = Redact(reason, state);
        AccountState failed = state with
        {
            LastRefreshAtMs = now,
            LastRefreshOutcome = AccountState.FailureOutcome,
            LastRefreshError = redacted,
        };
        _ = _slots.ReplaceIfCurrent(record, failed.ToRecord(id));
        return KheishError.Unavailable(
            "account_refresh_failed",
            $"account slot {id} ({state.Kind.Label()}) could not be refreshed: {redacted}. The previous tokens are kept; if this persists, " +
            state.Kind.LoginHint(id.Value));
    }

    private AccountState? Current(SlotId id) =>
        _slots.Get(id) is { } record && AccountState.FromSlot(record).TryGetValue(out AccountState? state, out _) ? state : null;

    private long NowMs() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Reasons are built by this code, but nothing that reaches a file or client may hold a token.</summary>
    private static string Redact(string reason, AccountState state)
    {
        foreach (string secret in state.Secrets())
        {
            if (secret.Length >= 6)
            {
                reason = reason.Replace(secret, "<redacted>", StringComparison.Ordinal);
            }
        }

        return reason.Length > 300 ? reason[..300] : reason;
    }

    private static string Printable(IReadOnlyList<string> scopes) =>
        string.Join(' ', scopes.Select(s => s.Length <= 64 && s.All(c => char.IsAsciiLetterOrDigit(c) || c is ':' or '_' or '-' or '.') ? s : "(unprintable)"));

    /// <summary>Per-slot state; lives as long as the manager (a semaphore without a wait handle holds no OS resource).</summary>
#pragma warning disable CA1001
    private sealed class Flight
#pragma warning restore CA1001
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        public long Attempts;
        public long LastAttemptMs;
        public Result<AccountState>? Last;
    }
}
