using System.Globalization;
using System.Net;
using Kheish.Core.Errors;
using Kheish.Core.Egress;

namespace Kheish.Core.Transparency;

/// <summary>A witness <c>serve --witness</c> pushes checkpoints to: its base URL and pinned Ed25519 key.</summary>
internal sealed record WitnessEndpoint(Uri Url, byte[] PublicKey)
{
    public string PublicKeyHex => Convert.ToHexStringLower(PublicKey);

    /// <summary>The C2SP tlog-witness endpoint under the base URL.</summary>
    public Uri AddCheckpoint => new(Url.AbsoluteUri.TrimEnd('/') + "/add-checkpoint");

    /// <summary>
    /// Parses <c>&lt;url&gt;=&lt;64 hex Ed25519 public key&gt;</c>: an absolute https URL, or http to a
    /// loopback host; no user info, query or fragment (the URL shows in status and logs).
    /// </summary>
    public static Result<WitnessEndpoint> Parse(string value)
    {
        int eq = value.LastIndexOf('=');
        string url = eq < 0 ? value : value[..eq];
        string hex = eq < 0 ? "" : value[(eq + 1)..];
        string shape = $"--witness '{value}' is not <url>=<64 hex characters of the witness's Ed25519 public key> (from 'witness public-key')";
        if (eq < 0)
        {
            return KheishError.BadRequest("invalid_witness", shape);
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            return KheishError.BadRequest("invalid_witness", $"{shape}: '{url}' is not an absolute http(s) URL");
        }

        if (uri.UserInfo.Length > 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            return KheishError.BadRequest("invalid_witness", $"{shape}: the URL must have no user info, query or fragment");
        }

        if (uri.Scheme == Uri.UriSchemeHttp && !IsLoopback(uri))
        {
            return KheishError.BadRequest("invalid_witness", $"{shape}: plain http is allowed only to a loopback witness (127.0.0.1, [::1], localhost); use https");
        }

        if (LogState.ParsePublicKey(hex) is not { } key || hex.Length != 64)
        {
            return KheishError.BadRequest("invalid_witness", $"{shape}: '{hex}' is not 64 hex characters of an Ed25519 public key");
        }

        return new WitnessEndpoint(uri, key);
    }

    private static bool IsLoopback(Uri uri) =>
        string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out IPAddress? ip) && IPAddress.IsLoopback(ip));
}

/// <summary>How checkpoints are pushed and how long a quorum is waited for.</summary>
internal sealed record WitnessPushOptions
{
    /// <summary>Witnesses that must cosign a checkpoint covering a record before its append completes (0 = no wait).</summary>
    public int Quorum { get; init; }

    public TimeSpan QuorumTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Tries per round when the witness cannot be reached; backoff doubles from <see cref="FirstBackoff"/> up to <see cref="MaxBackoff"/>.</summary>
    public int MaxAttempts { get; init; } = 5;

    public TimeSpan FirstBackoff { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>After a round of failed tries, the next round starts at the next checkpoint or after this long.</summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>One witness as <c>GET /v1/runtime</c> shows it (no secrets: the URL carries no user info).</summary>
internal sealed record WitnessStatus(
    string Url,
    string PublicKey,
    string? KeyName,
    long? CosignedSize,
    long? LastCosignedAtMs,
    long Cosignatures,
    long Refusals,
    long BadCosignatures,
    long NetworkErrors,
    string? LastError,
    long? LastErrorAtMs);

/// <summary>The witnesses block of <c>GET /v1/runtime</c>.</summary>
internal sealed record WitnessesView(int Quorum, double QuorumTimeoutSeconds, long QuorumFailures, string? LastQuorumFailure, IReadOnlyList<WitnessStatus> Witnesses);

/// <summary>
/// Pushes the log's checkpoints to its witnesses (<c>serve --witness</c>), off the append path: one
/// background loop per witness wakes on each published checkpoint and pushes the latest one
/// (coalescing whatever was published meanwhile), with the consistency proof from the size the
/// witness holds (a 409 names it; <see cref="WitnessClient"/> retries from there). Unreachable
/// witnesses are retried with backoff, a bounded number of times per round. A cosignature is kept
/// (beside the checkpoint, durably) only when it verifies under the pinned key. With a quorum,
/// <see cref="WaitForQuorumAsync"/> holds an append until that many witnesses cosigned a checkpoint
/// covering it, or fails it closed.
/// </summary>
internal sealed class WitnessPusher : IAsyncDisposable
{
    public const string QuorumCode = "witness_quorum_not_reached";

    private readonly TransparencyLog _log;
    private readonly WitnessPushOptions _options;
    private readonly Action<string> _warn;
    private readonly TimeProvider _time;
    private readonly HttpClient _http;
    private readonly List<Peer> _peers;
    private readonly Lock _lock = new();
    private readonly List<(long Size, TaskCompletionSource Done)> _waiters = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private long _quorumFailures;
    private string? _lastQuorumFailure;

    public WitnessPusher(TransparencyLog log, IReadOnlyList<WitnessEndpoint> witnesses, WitnessPushOptions options, Action<string> warn, HttpMessageHandler? handler = null, TimeProvider? time = null)
    {
        _log = log;
        _options = options;
        _warn = warn;
        _time = time ?? TimeProvider.System;
        _http = new HttpClient(handler ?? OutboundHandler.Create(options.RequestTimeout), disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _peers = [.. witnesses.Select(w => new Peer(w, new WitnessClient(_http, w.AddCheckpoint, null, w.PublicKey)))];
    }

    public int Quorum => _options.Quorum;

    public WitnessesView View
    {
        get
        {
            lock (_lock)
            {
                return new WitnessesView(_options.Quorum, _options.QuorumTimeout.TotalSeconds, _quorumFailures, _lastQuorumFailure, [.. _peers.Select(p => p.Status())]);
            }
        }
    }

    /// <summary>Starts the loops; each pushes the current checkpoint at once, then every new one.</summary>
    public void Start()
    {
        _log.CheckpointPublished = Wake;
        foreach (Peer peer in _peers)
        {
            _loops.Add(Task.Run(() => RunAsync(peer, _stop.Token)));
        }

        Wake();
    }

    /// <summary>
    /// Waits until <see cref="Quorum"/> witnesses cosigned a checkpoint covering every record
    /// acknowledged before the call (the log publishes one at once); null then, else why not.
    /// </summary>
    public async Task<KheishError?> WaitForQuorumAsync()
    {
        if (_options.Quorum == 0)
        {
            return null;
        }

        Result<long> published = await _log.PublishNowAsync().ConfigureAwait(false);
        if (!published.TryGetValue(out long size, out KheishError? error))
        {
            return Failed($"no checkpoint could be published for the witnesses to cosign: {error.Message}");
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (CosignedAtLeast(size) >= _options.Quorum)
            {
                return null;
            }

            _waiters.Add((size, done));
        }

        try
        {
            await done.Task.WaitAsync(_options.QuorumTimeout, _time, _stop.Token).ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            string states;
            int have;
            lock (_lock)
            {
                _waiters.RemoveAll(w => w.Done == done);
                have = CosignedAtLeast(size);
                states = string.Join("; ", _peers.Select(p => $"{p.Endpoint.Url} cosigned size {p.CosignedSize}{(p.LastError is { } e ? $", last error: {e}" : "")}"));
            }

            string why = ex is TimeoutException
                ? $"within {_options.QuorumTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s"
                : "before the daemon stopped";
            return Failed($"{have} of the {_options.Quorum} witnesses required by --witness-quorum cosigned a checkpoint of size {size} or more {why} ({states})");
        }
    }

    public async ValueTask DisposeAsync()
    {
        _log.CheckpointPublished = null;
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(false);
        _http.Dispose();

        // _stop is left undisposed on purpose: an append still waiting for a quorum during shutdown
        // reads its token and must fail closed, not throw ObjectDisposedException.
    }

    private KheishError Failed(string why)
    {
        string message = $"witness quorum not reached: {why}. The record is durable in the ledger; the action was refused (fail closed). Witness state: GET /v1/runtime";
        lock (_lock)
        {
            _quorumFailures++;
            _lastQuorumFailure = message;
        }

        _warn(message);
        return KheishError.Unavailable(QuorumCode, message);
    }

    private void Wake()
    {
        foreach (Peer peer in _peers)
        {
            peer.Wake();
        }
    }

    /// <summary>How many witnesses cosigned a checkpoint of at least <paramref name="size"/> (under <see cref="_lock"/>).</summary>
    private int CosignedAtLeast(long size) => _peers.Count(p => p.CosignedSize >= size);

    private async Task RunAsync(Peer peer, CancellationToken ct)
    {
        TimeSpan wait = Timeout.InfiniteTimeSpan;
        while (true)
        {
            try
            {
                await peer.Signal.WaitAsync(wait, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            wait = Timeout.InfiniteTimeSpan;
            for (int attempt = 1; ; attempt++)
            {
                if (_log.Latest is not { } latest || latest.Checkpoint.Size <= peer.CosignedSize)
                {
                    break;
                }

                WitnessPush push;
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    timeout.CancelAfter(_options.RequestTimeout);
                    push = await peer.Client.PushAsync(latest.Note, _log.ConsistencyProof, peer.KnownSize, timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
                {
                    string reason = ex is OperationCanceledException ? $"no answer within {_options.RequestTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s" : ex.Message;
                    Record(peer, p => p.NetworkErrors++, $"cannot reach the witness (try {attempt} of {_options.MaxAttempts}): {reason}");
                    if (attempt >= _options.MaxAttempts)
                    {
                        wait = _options.RetryInterval;
                        break;
                    }

                    try
                    {
                        await Task.Delay(Backoff(attempt), _time, ct).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }

                    continue;
                }

                peer.KnownSize = push.WitnessSize;
                if (push.CosignatureLine is { } line)
                {
                    if (_log.AddCosignature(latest.Checkpoint, latest.Note, line) is { } ioError)
                    {
                        // Not durable, so not counted: a quorum must survive a restart.
                        Record(peer, p => p.NetworkErrors++, ioError);
                        wait = _options.RetryInterval;
                        break;
                    }

                    lock (_lock)
                    {
                        peer.Cosigned(latest.Checkpoint.Size, line.Split(' ')[1], _time.GetUtcNow().ToUnixTimeMilliseconds());
                        foreach ((long size, TaskCompletionSource done) in _waiters.Where(w => CosignedAtLeast(w.Size) >= _options.Quorum).ToList())
                        {
                            _waiters.RemoveAll(w => w.Done == done);
                            done.TrySetResult();
                        }
                    }

                    break;
                }

                Record(peer, p =>
                {
                    if (push.Kind == WitnessPushFailure.BadCosignature)
                    {
                        p.BadCosignatures++;
                    }
                    else
                    {
                        p.Refusals++;
                    }
                }, push.Kind == WitnessPushFailure.BadCosignature
                    ? $"cosignature dropped for checkpoint size {latest.Checkpoint.Size}: {push.Failure}"
                    : $"checkpoint size {latest.Checkpoint.Size} not cosigned: {push.Failure}");
                break;
            }
        }
    }

    private TimeSpan Backoff(int attempt)
    {
        double ms = _options.FirstBackoff.TotalMilliseconds * Math.Pow(2, attempt - 1);
        return TimeSpan.FromMilliseconds(Math.Min(ms, _options.MaxBackoff.TotalMilliseconds));
    }

    private void Record(Peer peer, Action<Peer> count, string error)
    {
        lock (_lock)
        {
            count(peer);
            peer.LastError = error;
            peer.LastErrorAtMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        }

        _warn($"witness {peer.Endpoint.Url}: {error}");
    }

    private sealed class Peer(WitnessEndpoint endpoint, WitnessClient client)
    {
        public WitnessEndpoint Endpoint { get; } = endpoint;

        public WitnessClient Client { get; } = client;

        public SemaphoreSlim Signal { get; } = new(0, 1);

        /// <summary>The size the witness is believed to hold (0 until it answers).</summary>
        public long KnownSize { get; set; }

        /// <summary>The largest checkpoint size it cosigned in this process; -1 before the first.</summary>
        public long CosignedSize { get; private set; } = -1;

        public string? KeyName { get; private set; }

        public long? LastCosignedAtMs { get; private set; }

        public long Cosignatures { get; private set; }

        public long Refusals { get; set; }

        public long BadCosignatures { get; set; }

        public long NetworkErrors { get; set; }

        public string? LastError { get; set; }

        public long? LastErrorAtMs { get; set; }

        public void Wake()
        {
            try
            {
                Signal.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already signalled: the loop will push the latest checkpoint anyway.
            }
        }

        public void Cosigned(long size, string keyName, long atMs)
        {
            CosignedSize = Math.Max(CosignedSize, size);
            KeyName = keyName;
            LastCosignedAtMs = atMs;
            Cosignatures++;
        }

        public WitnessStatus Status() => new(
            Endpoint.Url.AbsoluteUri, Endpoint.PublicKeyHex, KeyName, CosignedSize < 0 ? null : CosignedSize, LastCosignedAtMs,
            Cosignatures, Refusals, BadCosignatures, NetworkErrors, LastError, LastErrorAtMs);
    }
}
