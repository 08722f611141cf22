using System.Collections.Concurrent;
using Kheish.Core.Access;
using Kheish.Core.Audit;
using Kheish.Core.Errors;

namespace Kheish.Core.Limits;

/// <summary>One row of per-key usage: a key, a route, a UTC day.</summary>
internal sealed record UsageRow(string KeyId, string Route, string Day, long Requests, long InputTokens, long OutputTokens)
{
    public long TotalTokens => InputTokens + OutputTokens;
}

/// <summary>A key's requests today and tokens today and this month (UTC).</summary>
internal readonly record struct KeyStanding(long RequestsToday, long TokensToday, long TokensThisMonth);

/// <summary>
/// Requests and provider tokens per API key, route and UTC day, in memory. It is not a store of
/// its own: what it counts is durable in the ledger (egress <c>started</c> records carry
/// <c>api_key_id</c>, <c>completed</c> records also <c>input_tokens</c>/<c>output_tokens</c>, written
/// by the ledger's group commit), and <see cref="Restore"/> reads the current month back at start.
/// Budgets are checked against it before a call goes out.
/// </summary>
internal sealed class UsageBook(TimeProvider clock)
{
    private readonly ConcurrentDictionary<(string Key, string Route, int Day), Counter> _rows = new();
    private readonly ConcurrentDictionary<(string Key, int Day), Counter> _keyDays = new();
    private readonly ConcurrentDictionary<(string Key, int Month), Counter> _keyMonths = new();

    private volatile bool _restored;

    public TimeProvider Clock => clock;

    /// <summary>
    /// True once <see cref="Restore"/> has read this month back. Until then a key with a budget is
    /// refused with <c>usage_restoring</c> (503): its count is not known yet, so it fails closed.
    /// </summary>
    public bool Restored => _restored;

    /// <summary>Marks the book complete without reading a ledger (tests, and a daemon with no ledger to read).</summary>
    public void MarkRestored() => _restored = true;

    public void CountRequest(string keyId, string route, DateTimeOffset at) => Add(keyId, route, at, 1, default);

    /// <summary>
    /// Counts a call about to go out, in one step with the check of <paramref name="requestsPerDay"/>
    /// (null: no such budget, always counted): of concurrent calls when one request is left, one is
    /// counted and the others get the refusal. <see cref="CheckBudget"/> alone let every call in
    /// flight pass on the same count. A call counted here that does not go out after all (its
    /// started record could not be written) is given back with <see cref="UncountRequest"/>.
    /// </summary>
    public LimitRefusal? TryCountRequest(string keyId, string route, DateTimeOffset at, long? requestsPerDay)
    {
        int day = BudgetWindow.Day(at);
        Counter keyDay = _keyDays.GetOrAdd((keyId, day), static _ => new Counter());
        if (Interlocked.Increment(ref keyDay.Requests) > requestsPerDay)
        {
            Interlocked.Decrement(ref keyDay.Requests);
            return Exhausted($"API key {keyId} has used its budget of {requestsPerDay} requests for today (UTC)", BudgetWindow.UntilNextDay(at));
        }

        _rows.GetOrAdd((keyId, route, day), static _ => new Counter()).Add(1, default);
        _keyMonths.GetOrAdd((keyId, BudgetWindow.Month(at)), static _ => new Counter()).Add(1, default);
        return null;
    }

    /// <summary>Takes back a request counted by <see cref="TryCountRequest"/> whose call was not made.</summary>
    public void UncountRequest(string keyId, string route, DateTimeOffset at) => Add(keyId, route, at, -1, default);

    public void CountTokens(string keyId, string route, DateTimeOffset at, TokenUsage usage) => Add(keyId, route, at, 0, usage);

    /// <summary>Null when the budget has room now; else the refusal with the time until its window ends.</summary>
    public LimitRefusal? CheckBudget(string keyId, ApiKeyBudget budget)
    {
        DateTimeOffset now = clock.GetUtcNow();
        Counter? today = _keyDays.GetValueOrDefault((keyId, BudgetWindow.Day(now)));
        if (budget.RequestsPerDay is { } requests && today is not null && Volatile.Read(ref today.Requests) >= requests)
        {
            return Exhausted($"API key {keyId} has used its budget of {requests} requests for today (UTC)", BudgetWindow.UntilNextDay(now));
        }

        if (budget.TokensPerDay is { } dayTokens && today is not null && today.Tokens >= dayTokens)
        {
            return Exhausted($"API key {keyId} has used its budget of {dayTokens} tokens for today (UTC)", BudgetWindow.UntilNextDay(now));
        }

        if (budget.TokensPerMonth is { } monthTokens
            && _keyMonths.GetValueOrDefault((keyId, BudgetWindow.Month(now))) is { } month
            && month.Tokens >= monthTokens)
        {
            return Exhausted($"API key {keyId} has used its budget of {monthTokens} tokens for this month (UTC)", BudgetWindow.UntilNextMonth(now));
        }

        return null;
    }

    /// <summary>A key's totals in the current windows.</summary>
    public KeyStanding Standing(string keyId)
    {
        DateTimeOffset now = clock.GetUtcNow();
        Counter? today = _keyDays.GetValueOrDefault((keyId, BudgetWindow.Day(now)));
        Counter? month = _keyMonths.GetValueOrDefault((keyId, BudgetWindow.Month(now)));
        return new KeyStanding(today is null ? 0 : Volatile.Read(ref today.Requests), today?.Tokens ?? 0, month?.Tokens ?? 0);
    }

    /// <summary>Rows matching the filters, oldest day first.</summary>
    public IReadOnlyList<UsageRow> Query(string? keyId, string? route, DateTimeOffset? since)
    {
        int fromDay = since is { } s ? BudgetWindow.Day(s) : int.MinValue;
        return [.. _rows
            .Where(r => (keyId is null || r.Key.Key == keyId) && (route is null || r.Key.Route == route) && r.Key.Day >= fromDay)
            .OrderBy(r => r.Key.Day).ThenBy(r => r.Key.Key, StringComparer.Ordinal).ThenBy(r => r.Key.Route, StringComparer.Ordinal)
            .Select(r => new UsageRow(
                r.Key.Key,
                r.Key.Route,
                BudgetWindow.StartOfDay(r.Key.Day).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
                Volatile.Read(ref r.Value.Requests),
                Volatile.Read(ref r.Value.Input),
                Volatile.Read(ref r.Value.Output)))];
    }

    /// <summary>
    /// Reads this month's egress usage back from the ledger: every bucket file written since the
    /// month began, records with an <c>api_key_id</c>. Lines without one are skipped before parsing.
    /// A damaged line is skipped here (<c>runs verify</c> reports it); the count errs low only for it.
    /// </summary>
    /// <param name="beforeMs">
    /// Only records older than this are read (the daemon's start): calls made since were counted
    /// live, so the restore can run in the background while the daemon serves.
    /// </param>
    public Result<int> Restore(LedgerPaths paths, long beforeMs = long.MaxValue)
    {
        DateTimeOffset monthStart = BudgetWindow.StartOfMonth(clock.GetUtcNow());
        long fromMs = monthStart.ToUnixTimeMilliseconds();
        int folded = 0;
        foreach (string stem in paths.ListRecordStems())
        {
            string file = paths.RecordFile(stem);
            try
            {
                if (File.GetLastWriteTimeUtc(file) < monthStart.UtcDateTime)
                {
                    continue;
                }

                using RecordFileReader reader = RecordFileReader.Open(file);
                while (reader.ReadLine() is { } line)
                {
                    if (line.AsSpan().IndexOf("\"api_key_id\":"u8) < 0
                        || !LedgerChecks.TryParseRecord(line, out LedgerRecord? record, out _)
                        || record!.ApiKeyId is not { } key
                        || record.TimestampMs < fromMs
                        || record.TimestampMs >= beforeMs)
                    {
                        continue;
                    }

                    Fold(record, key);
                    folded++;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                return KheishError.Unavailable(ExternalActionLedger.UnavailableCode, $"cannot read {file} to restore key usage ({IoReason.Of(ex)})");
            }
        }

        _restored = true;
        return folded;
    }

    /// <summary>The usage route of MCP tool calls (<c>/mcp</c>): one request per tool call made upstream.</summary>
    public const string McpRoute = "mcp";

    /// <summary>Counts one ledger record the way the live path does.</summary>
    internal void Fold(LedgerRecord record, string keyId)
    {
        string route = record.Kind == "mcp_tool_call" ? McpRoute : RouteOf(record.Target);
        DateTimeOffset at = DateTimeOffset.FromUnixTimeMilliseconds(record.TimestampMs);
        if (record.Phase == "started")
        {
            CountRequest(keyId, route, at);
        }
        else if (record.InputTokens is not null || record.OutputTokens is not null)
        {
            CountTokens(keyId, route, at, new TokenUsage(record.InputTokens ?? 0, record.OutputTokens ?? 0));
        }
    }

    /// <summary>Egress targets are "&lt;route&gt; &lt;METHOD&gt; &lt;path&gt;".</summary>
    public static string RouteOf(string target)
    {
        int space = target.IndexOf(' ', StringComparison.Ordinal);
        return space > 0 ? target[..space] : target;
    }

    private static LimitRefusal Exhausted(string message, TimeSpan retryAfter) =>
        new(new KheishError(LimitRefusal.BudgetExhaustedCode, ErrorKind.RateLimited,
            $"{message}; it renews in {(long)Math.Ceiling(retryAfter.TotalSeconds)} s (Retry-After). Ask the operator to raise the key's budget."), retryAfter);

    private void Add(string keyId, string route, DateTimeOffset at, long requests, TokenUsage usage)
    {
        int day = BudgetWindow.Day(at);
        _rows.GetOrAdd((keyId, route, day), static _ => new Counter()).Add(requests, usage);
        _keyDays.GetOrAdd((keyId, day), static _ => new Counter()).Add(requests, usage);
        _keyMonths.GetOrAdd((keyId, BudgetWindow.Month(at)), static _ => new Counter()).Add(requests, usage);
    }

    private sealed class Counter
    {
        public long Requests;
        public long Input;
        public long Output;

        public long Tokens => Volatile.Read(ref Input) + Volatile.Read(ref Output);

        public void Add(long requests, TokenUsage usage)
        {
            if (requests != 0)
            {
                Interlocked.Add(ref Requests, requests);
            }

            if (usage.Input != 0)
            {
                Interlocked.Add(ref Input, usage.Input);
            }

            if (usage.Output != 0)
            {
                Interlocked.Add(ref Output, usage.Output);
            }
        }
    }
}
