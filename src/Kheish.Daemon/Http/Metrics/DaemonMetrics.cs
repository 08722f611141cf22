using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Kheish.Core.Metrics;

namespace Kheish.Daemon.Http.Metrics;

/// <summary>
/// The daemon's own counters for <c>GET /metrics</c>: agent-plane requests per plane, route, key
/// and status; per-route latency; per-key limit refusals and provider tokens; ledger append
/// latency seen by the egress proxy. Labels are ids only (route ids, key ids, codes), never a
/// secret or a caller-chosen string: unknown route names are folded into one label.
/// </summary>
internal sealed class DaemonMetrics
{
    private readonly ConcurrentDictionary<(string Plane, string Route, string Key, int Status), StrongBox<long>> _requests = new();
    private readonly ConcurrentDictionary<(string Plane, string Route), Histogram> _latency = new();
    private readonly ConcurrentDictionary<(string Key, string Code), StrongBox<long>> _limited = new();
    private readonly ConcurrentDictionary<(string Key, string Route, string Direction), StrongBox<long>> _tokens = new();

    /// <summary>Seconds the egress proxy waited for its <c>started</c> record to be durable.</summary>
    public Histogram LedgerAppendSeconds { get; } = new(Histogram.LatencySeconds);

    public void Request(string plane, string route, string key, int status, double seconds)
    {
        Interlocked.Increment(ref _requests.GetOrAdd((plane, route, key, status), static _ => new StrongBox<long>()).Value);
        _latency.GetOrAdd((plane, route), static _ => new Histogram(Histogram.LatencySeconds)).Observe(seconds);
    }

    public void Limited(string key, string code) =>
        Interlocked.Increment(ref _limited.GetOrAdd((key, code), static _ => new StrongBox<long>()).Value);

    public void Tokens(string key, string route, long input, long output)
    {
        Interlocked.Add(ref _tokens.GetOrAdd((key, route, "input"), static _ => new StrongBox<long>()).Value, input);
        Interlocked.Add(ref _tokens.GetOrAdd((key, route, "output"), static _ => new StrongBox<long>()).Value, output);
    }

    /// <summary>The whole exposition, families in a fixed order, series sorted.</summary>
    public string Render(DaemonContext daemon)
    {
        var w = new PrometheusText();
        w.Family("kheish_agent_requests_total", "counter", "Agent-plane requests (egress and /mcp) admitted past authentication, by plane, route, API key id and HTTP status.");
        foreach (var (k, v) in _requests.OrderBy(p => p.Key.Plane, StringComparer.Ordinal).ThenBy(p => p.Key.Route, StringComparer.Ordinal).ThenBy(p => p.Key.Key, StringComparer.Ordinal).ThenBy(p => p.Key.Status))
        {
            w.Sample("kheish_agent_requests_total", [("plane", k.Plane), ("route", k.Route), ("key", k.Key), ("status", k.Status.ToString(System.Globalization.CultureInfo.InvariantCulture))], Volatile.Read(ref v.Value));
        }

        w.Family("kheish_agent_request_duration_seconds", "histogram", "Agent-plane request latency until the response is complete (streams included), by plane and route.");
        foreach (var (k, h) in _latency.OrderBy(p => p.Key.Plane, StringComparer.Ordinal).ThenBy(p => p.Key.Route, StringComparer.Ordinal))
        {
            w.Histogram("kheish_agent_request_duration_seconds", [("plane", k.Plane), ("route", k.Route)], h);
        }

        w.Family("kheish_key_limited_total", "counter", "Requests refused by a key's limits, by API key id and code (rate_limited_key, concurrency_limited_key, budget_exhausted).");
        foreach (var (k, v) in _limited.OrderBy(p => p.Key.Key, StringComparer.Ordinal).ThenBy(p => p.Key.Code, StringComparer.Ordinal))
        {
            w.Sample("kheish_key_limited_total", [("key", k.Key), ("code", k.Code)], Volatile.Read(ref v.Value));
        }

        w.Family("kheish_key_tokens_total", "counter", "Provider tokens reported by upstreams (usage), by API key id, route and direction, since start.");
        foreach (var (k, v) in _tokens.OrderBy(p => p.Key.Key, StringComparer.Ordinal).ThenBy(p => p.Key.Route, StringComparer.Ordinal).ThenBy(p => p.Key.Direction, StringComparer.Ordinal))
        {
            w.Sample("kheish_key_tokens_total", [("key", k.Key), ("route", k.Route), ("direction", k.Direction)], Volatile.Read(ref v.Value));
        }

        w.Family("kheish_ledger_append_duration_seconds", "histogram", "Time an egress call waited for its started record to be durable (group commit included).");
        w.Histogram("kheish_ledger_append_duration_seconds", [], LedgerAppendSeconds);

        w.Family("kheish_ledger_batch_records", "histogram", "Records per ledger group commit (one write and one sync each).");
        w.Histogram("kheish_ledger_batch_records", [], daemon.Ledger.BatchSizes);

        w.Family("kheish_ledger_batch_write_sync_seconds", "histogram", "Seconds each ledger group commit spent writing and syncing.");
        w.Histogram("kheish_ledger_batch_write_sync_seconds", [], daemon.Ledger.BatchWriteSyncSeconds);

        Core.Audit.LedgerStats stats = daemon.Ledger.Stats;
        w.Family("kheish_ledger_records_total", "counter", "Ledger records written since start.");
        w.Sample("kheish_ledger_records_total", [], stats.Records);

        w.Family("kheish_broker_leases", "gauge", "Credential leases the broker holds now (live, not yet pruned).");
        w.Sample("kheish_broker_leases", [], daemon.Broker.LeaseCount);

        w.Family("kheish_account_refresh_total", "counter", "Account token refreshes since start, by outcome.");
        (long ok, long failed) = daemon.Accounts?.RefreshOutcomes ?? (0, 0);
        w.Sample("kheish_account_refresh_total", [("outcome", "success")], ok);
        w.Sample("kheish_account_refresh_total", [("outcome", "failure")], failed);
        return w.ToString();
    }
}
