using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using Kheish.Core.Access;
using Kheish.Core.Audit;
using Kheish.Core.Broker;
using Kheish.Core.Egress;
using Kheish.Core.Errors;
using Kheish.Core.Routes;
using Kheish.Core.Secrets;
using Microsoft.AspNetCore.Http.Features;

namespace Kheish.Daemon.Http.AgentPlane;

/// <summary>
/// <c>ANY /agent/v1/routes/{route}/{**path}</c>: forwards an agent's provider request to the
/// route's base URL with the provider key injected from a route lease, and relays the answer
/// as it arrives. Order per request (each refusal is a problem+json with its own code):
/// route → context ids → subject and scope → path → per-route concurrency → body (buffered up
/// to the limit, so its digest is known before anything leaves) → lease issued and validated
/// (revoked subjects and slots refuse here) → key → <c>started</c> record durable → upstream
/// call → response relayed chunk by chunk → <c>completed</c>/<c>failed</c> record.
/// The key is only ever placed in the upstream request's headers.
/// </summary>
internal sealed partial class EgressProxy(DaemonContext daemon, EgressOptions options, ILogger logger)
{
    public const string ActionIdHeader = "X-Kheish-Action-Id";
    public const string RunIdHeader = "X-Kheish-Run-Id";
    public const string SessionIdHeader = "X-Kheish-Session-Id";
    public const string AgentIdHeader = "X-Kheish-Agent-Id";
    public const string ToolCallIdHeader = "X-Kheish-Tool-Call-Id";
    public const string Kind = "provider_request";
    public const string DefaultRouteName = "default";

    private const int CopyBufferBytes = 16 * 1024;

    /// <summary>
    /// The proxy's route lease never leaves the process: it is issued and spent within one call,
    /// so it lives 5 s, not the route maximum of 60 s. Revocation is checked when it is spent;
    /// a short life keeps the broker's live-lease set (persisted every few seconds) at a few
    /// seconds of traffic instead of a minute of it.
    /// </summary>
    private static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(5);

    /// <summary>One pooled client for every route: no redirects followed, no cookies kept, bytes relayed as sent.</summary>
    private static readonly HttpClient Upstream = new(UpstreamHandler())
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    private static SocketsHttpHandler UpstreamHandler()
    {
        SocketsHttpHandler handler = OutboundHandler.Create(TimeSpan.FromSeconds(15));
        handler.AutomaticDecompression = DecompressionMethods.None;
        handler.PooledConnectionLifetime = TimeSpan.FromMinutes(5);
        handler.PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90);
        return handler;
    }

    private readonly EgressRouteGate _gate = new(options.MaxConcurrencyPerRoute);
    private readonly NewBucketLimiter _newBuckets = new(daemon.Ledger.Paths, daemon.Clock);

    public async Task HandleAsync(HttpContext context)
    {
        if (context.Features.Get<AgentAccessAllowed>() is not { } caller)
        {
            await ProblemResults.WriteAsync(context, KheishError.Unauthorized("missing_api_key", "the egress proxy needs an agent-plane API key"));
            return;
        }

        if (Prepare(context, caller).TryGetValue(out Prepared? call, out KheishError? error))
        {
            if (!_gate.TryEnter(call.Route.Id.Value))
            {
                await ProblemResults.WriteAsync(context, new KheishError(
                    "route_busy",
                    ErrorKind.RateLimited,
                    $"route `{call.Route.Id}` already has {options.MaxConcurrencyPerRoute} upstream calls in flight (--egress-max-concurrency); retry later"));
                return;
            }

            try
            {
                await ForwardAsync(context, call);
            }
            finally
            {
                _gate.Exit(call.Route.Id.Value);
            }

            return;
        }

        await ProblemResults.WriteAsync(context, error);
    }

    /// <summary>Everything decided from the request line and headers, before the body is read.</summary>
    private Result<Prepared> Prepare(HttpContext context, AgentAccessAllowed caller)
    {
        string routeText = context.Request.RouteValues["route"] as string ?? string.Empty;
        if (FindRoute(routeText).TryGetValue(out RouteDefinition? route, out KheishError? error)
            && ContextIds.Read(context.Request.Headers).TryGetValue(out ContextIds? ids, out error))
        {
            if (ids.RunId is { } runId && BucketName.RunIdProblem(runId) is { } runProblem)
            {
                return KheishError.BadRequest("invalid_context_id", $"{RunIdHeader}: {runProblem}");
            }

            SessionRecord? session = null;
            if (ids.SessionId is { } sid)
            {
                // A session id names a ledger bucket: only a session that exists (created by the
                // operator) may be named, so no key can open buckets under arbitrary session ids.
                session = SessionRegistry.IsValidSessionId(sid) ? daemon.Sessions.Get(sid) : null;
                if (session is null)
                {
                    return KheishError.NotFound("session_not_found",
                        $"{SessionIdHeader} names no session this daemon knows; create it with POST /v1/sessions or drop the header");
                }
            }
            if (!EgressSubject.Resolve(caller.Principal, caller.Scope, session).TryGetValue(out EgressSubject? subject, out error))
            {
                return error;
            }

            if (subject.Parent is { } parent && daemon.Broker.IsSubjectRevoked(parent))
            {
                return BrokerErrors.SubjectWasRevoked(parent.Value);
            }

            if (session is not null && SessionCascade.RevokedAncestor(daemon.Sessions, daemon.Broker, session) is { } revokedAncestor)
            {
                return BrokerErrors.SubjectWasRevoked(revokedAncestor);
            }

            if (!subject.Scope.AllowsRoute(route.Id.Value))
            {
                return BrokerErrors.NotAllowed(subject.Subject.Value, $"route `{route.Id}`");
            }

            if (_newBuckets.Admit(caller.KeyId ?? "principal:" + caller.Principal, BucketName.For(ids.RunId, ids.SessionId)) is { } bucketLimit)
            {
                return bucketLimit;
            }

            string rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "/";
            if (!EgressRequestTarget.Parse(rawTarget).TryGetValue(out EgressRequestTarget? target, out error))
            {
                return error;
            }

            return new Prepared(route, ids, subject, target)
            {
                KeyId = caller.KeyId,
                CountsTokens = caller.Limits?.Budget is { } budget && (budget.TokensPerDay is not null || budget.TokensPerMonth is not null),
                RequestsPerDay = caller.Limits?.Budget?.RequestsPerDay,
            };
        }

        return error;
    }

    private Result<RouteDefinition> FindRoute(string name)
    {
        if (daemon.Routes is not { } routes)
        {
            return KheishError.NotFound("route_not_found", "no routes are configured: start serve with --routes-file");
        }

        if (name == DefaultRouteName)
        {
            return routes.Default;
        }

        return RouteId.TryParse(name, out RouteId id, out _) && routes.Find(id) is { } route
            ? route
            : KheishError.NotFound("route_not_found", $"no route named `{Printable(name)}` in the routes file; known: {string.Join(", ", routes.Routes.Select(r => r.Id.Value))}, default");
    }

    private async Task ForwardAsync(HttpContext context, Prepared call)
    {
        CancellationToken aborted = context.RequestAborted;
        Result<RequestBody> body = await ReadBodyAsync(context.Request, context);
        if (!body.TryGetValue(out RequestBody? content, out KheishError? error))
        {
            if (!aborted.IsCancellationRequested)
            {
                await ProblemResults.WriteAsync(context, error);
            }

            return;
        }

        if (!ApplyModelPolicy(context.Request, call.Route, content).TryGetValue(out content, out error))
        {
            await ProblemResults.WriteAsync(context, error);
            return;
        }

        if (call.CountsTokens && call.Target.Path.EndsWith("/chat/completions", StringComparison.Ordinal) && StreamWithoutUsage(content))
        {
            // Fail closed: an OpenAI chat stream reports usage only when asked, and a token budget
            // must not be bypassed by not asking.
            await ProblemResults.WriteAsync(context, KheishError.BadRequest("stream_usage_required",
                "this API key has a token budget: a streamed chat completion must send \"stream_options\": {\"include_usage\": true} so its tokens can be counted"));
            return;
        }

        if (!(await AuthorizeAsync(call, context.Request, aborted)).TryGetValue(out Authorized? auth, out error))
        {
            await ProblemResults.WriteAsync(context, error);
            return;
        }

        var started = new ExternalActionEvent(ActionPhase.Started, Kind, call.Target.LedgerTarget(call.Route.Id.Value, context.Request.Method))
        {
            RunId = call.Ids.RunId,
            SessionId = call.Ids.SessionId,
            AgentId = call.Ids.AgentId,
            ToolCallId = call.Ids.ToolCallId,
            PrincipalId = call.Subject.Subject.Value,
            ParentPrincipalId = call.Subject.Parent?.Value,
            GrantId = auth.GrantId,
            RequestDigest = content.Digest,
            ApiKeyId = call.KeyId,
        };
        // Counted before the started record, in one step with the daily request budget, so calls in
        // flight together cannot all pass it; after a restart the started records (with
        // api_key_id) are the count.
        DateTimeOffset countedAt = daemon.Clock.GetUtcNow();
        if (call.KeyId is { } keyId && daemon.Limits.Usage.TryCountRequest(keyId, call.Route.Id.Value, countedAt, call.RequestsPerDay) is { } exhausted)
        {
            daemon.Metrics.Limited(keyId, exhausted.Error.Code);
            context.Response.Headers.RetryAfter = exhausted.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await ProblemResults.WriteAsync(context, exhausted.Error);
            return;
        }

        long appendStarted = System.Diagnostics.Stopwatch.GetTimestamp();
        Result<LedgerRecord> appended = await daemon.Ledger.AppendAsync(started, CancellationToken.None);
        daemon.Metrics.LedgerAppendSeconds.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(appendStarted).TotalSeconds);
        if (!appended.TryGetValue(out LedgerRecord? startedRecord, out error))
        {
            // Never unaudited: without a durable started record the call is not made (nor counted).
            if (call.KeyId is { } uncounted)
            {
                daemon.Limits.Usage.UncountRequest(uncounted, call.Route.Id.Value, countedAt);
            }

            LogAuditRefused(logger, call.Route.Id.Value, error.Code);
            await ProblemResults.WriteAsync(context, error);
            return;
        }

        using HttpRequestMessage upstream = BuildUpstreamRequest(context.Request, call, content, auth);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        cts.CancelAfter(options.UpstreamTimeout);
        HttpResponseMessage response;
        try
        {
            response = await Upstream.SendAsync(upstream, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            await FailAsync(started, "client_aborted", null);
            return;
        }
        catch (OperationCanceledException)
        {
            await FailAsync(started, "upstream_timeout", null);
            await WriteProblemAsync(context, StatusCodes.Status504GatewayTimeout, KheishError.Unavailable(
                "upstream_timeout",
                $"route `{call.Route.Id}`: the upstream sent no response headers within {options.UpstreamTimeout.TotalSeconds:0} s (--egress-timeout-seconds)"), startedRecord.ActionId);
            return;
        }
        catch (HttpRequestException ex)
        {
            await FailAsync(started, "upstream_unreachable", null);
            LogUnreachable(logger, call.Route.Id.Value, ex.HttpRequestError.ToString());
            await WriteProblemAsync(context, StatusCodes.Status502BadGateway, new KheishError(
                "upstream_unreachable", ErrorKind.Unreachable,
                $"route `{call.Route.Id}`: the upstream {call.Route.BaseUrl.GetLeftPart(UriPartial.Authority)} could not be reached ({ex.HttpRequestError})"), startedRecord.ActionId);
            return;
        }

        using (response)
        {
            await RelayAsync(context, call, response, started, startedRecord, cts);
        }
    }

    private async Task RelayAsync(
        HttpContext context, Prepared call, HttpResponseMessage response, ExternalActionEvent started, LedgerRecord startedRecord, CancellationTokenSource cts)
    {
        CancellationToken aborted = context.RequestAborted;
        HttpResponse relay = context.Response;
        relay.StatusCode = (int)response.StatusCode;
        // The upstream's status and body are relayed as they are, even an empty 404.
        if (context.Features.Get<Microsoft.AspNetCore.Diagnostics.IStatusCodePagesFeature>() is { } pages)
        {
            pages.Enabled = false;
        }

        HashSet<string> connectionNamed = EgressHeaders.ConnectionNamed(
            response.Headers.NonValidated.TryGetValues("Connection", out var connection) ? connection : default(System.Net.Http.Headers.HeaderStringValues));
        string secretText = System.Text.Encoding.UTF8.GetString(call.Secret);
        CopyResponseHeaders(response.Headers, relay.Headers, connectionNamed, secretText);
        CopyResponseHeaders(response.Content.Headers, relay.Headers, connectionNamed, secretText);
        relay.Headers[ActionIdHeader] = startedRecord.ActionId;
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var redactor = new EchoRedactor(call.Secret);
        // Token usage is read from the bytes as they pass (never buffered), for keyed callers.
        Core.Limits.UsageScanner? usage = call.KeyId is null ? null : new Core.Limits.UsageScanner(
            response.Content.Headers.ContentType?.MediaType is { } media && media.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase));
        byte[] buffer = ArrayPool<byte>.Shared.Rent(CopyBufferBytes);
        string? failure = null;
        bool counted = false;
        try
        {
            await using Stream source = await response.Content.ReadAsStreamAsync(cts.Token);
            while (true)
            {
                // The timeout is an idle timeout while streaming: it restarts before every read.
                cts.CancelAfter(options.UpstreamTimeout);
                int read = await source.ReadAsync(buffer, cts.Token);
                if (read == 0)
                {
                    break;
                }

                hash.AppendData(buffer, 0, read);
                usage?.Feed(buffer.AsSpan(0, read));
                // The provider key never reaches the agent, even echoed in the body (split across reads too).
                ArraySegment<byte> safe = redactor.ProcessInPlace(new ArraySegment<byte>(buffer, 0, read));
                if (safe.Count > 0)
                {
                    await relay.Body.WriteAsync(safe, aborted);
                    await relay.Body.FlushAsync(aborted);
                }
            }

            // Counted before the agent sees the end of the answer, so its next request meets the
            // new total (and before the completed record is durable: a crash errs towards the budget).
            CountUsage(call, usage?.Usage);
            counted = true;
            ArraySegment<byte> tail = redactor.Flush();
            if (tail.Count > 0)
            {
                await relay.Body.WriteAsync(tail, aborted);
            }

            // Likewise the key's max_concurrent slot: an agent that sends its next call the moment
            // this answer ends must not find this one still in flight (it got a 429 when the slot
            // was given back only after the response had completed).
            context.Features.Get<Core.Limits.KeyAdmission>()?.Dispose();
            await relay.CompleteAsync();
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            failure = "client_aborted";
        }
        catch (OperationCanceledException)
        {
            failure = "upstream_timeout";
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            failure = aborted.IsCancellationRequested ? "client_aborted" : "upstream_error";
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        string responseDigest = Convert.ToHexStringLower(hash.GetHashAndReset());
        Core.Limits.TokenUsage? tokens = usage?.Usage;
        if (!counted)
        {
            CountUsage(call, tokens);
        }

        if (failure is not null)
        {
            LogRelayFailed(logger, call.Route.Id.Value, failure, startedRecord.ActionId);
            await FailAsync(started with { InputTokens = tokens?.Input, OutputTokens = tokens?.Output }, failure, responseDigest);
            // A truncated body must not look complete to the agent.
            context.Abort();
            return;
        }

        // The agent already has the whole response (CompleteAsync above). The completed record
        // is appended off the request path and joins the bucket's next group commit (the next
        // call's started record, under load): a keep-alive connection pays one durable write per
        // call (the started record's), not two. A graceful shutdown drains queued appends; a crash
        // in between leaves a started record without an outcome, which reads as "unknown".
        ExternalActionEvent done = started with
        {
            Phase = ActionPhase.Completed,
            ResponseDigest = responseDigest,
            Outcome = "http_" + relay.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture),
            InputTokens = tokens?.Input,
            OutputTokens = tokens?.Output,
        };
        _ = RecordCompletionAsync(done);
    }

    private void CountUsage(Prepared call, Core.Limits.TokenUsage? tokens)
    {
        if (tokens is { } used && call.KeyId is { } keyId)
        {
            daemon.Limits.Usage.CountTokens(keyId, call.Route.Id.Value, daemon.Clock.GetUtcNow(), used);
            daemon.Metrics.Tokens(keyId, call.Route.Id.Value, used.Input, used.Output);
        }
    }

    private async Task RecordCompletionAsync(ExternalActionEvent done)
    {
        Result<LedgerRecord> completed = await daemon.Ledger.AppendSoonAsync(done).ConfigureAwait(false);
        if (!completed.TryGetValue(out _, out KheishError? error))
        {
            LogCompletionNotRecorded(logger, done.Target, "completed", error.Code);
        }
    }

    private async Task FailAsync(ExternalActionEvent started, string outcome, string? responseDigest)
    {
        Result<LedgerRecord> failed = await daemon.Ledger.AppendAsync(
            started with { Phase = ActionPhase.Failed, Outcome = outcome, ResponseDigest = responseDigest }, CancellationToken.None);
        if (!failed.TryGetValue(out _, out KheishError? error))
        {
            LogCompletionNotRecorded(logger, started.Target, "failed (" + outcome + ")", error.Code);
        }
    }

    /// <summary>Issues a route lease, spends it at once (revocations refuse here), and resolves the key.</summary>
    private async Task<Result<Authorized>> AuthorizeAsync(Prepared call, HttpRequest request, CancellationToken ct)
    {
        RouteDefinition route = call.Route;
        string leaseSlot = LeaseSlotOf(route);
        if (!daemon.Broker.SpendRouteLease(call.Subject.Subject, call.Subject.Scope, route.Id.Value, leaseSlot, LeaseTtl)
                .TryGetValue(out IssuedLease? issued, out KheishError? error))
        {
            return error;
        }

        if (daemon.Broker.CheckSlot(leaseSlot) is { } revoked)
        {
            return revoked;
        }

        if (AccountSlotOf(route) is { } account)
        {
            return await AuthorizeAccountAsync(call, account, issued.Grant.Id, request, ct);
        }

        if (!ResolveKey(route).TryGetValue(out string? key, out error))
        {
            return error;
        }

        try
        {
            IReadOnlyList<KeyValuePair<string, string>> headers = route.Driver.AuthHeaders(route, key);
            call.Secret = System.Text.Encoding.UTF8.GetBytes(key);
            return new Authorized(issued.Grant.Id, headers);
        }
        catch (ArgumentException)
        {
            return KheishError.Misconfigured(
                "credential_invalid", $"the credential of route `{route.Id}` ({route.Credential}) cannot be sent in an HTTP header; rewrite it");
        }
    }

    /// <summary>The Codex or Claude Code account a route's auth_ref names, or null for key-backed routes.</summary>
    private (SlotId Id, Core.Accounts.AccountKind Kind)? AccountSlotOf(RouteDefinition route) =>
        route.Credential is RouteCredential.AuthRef a && daemon.StoreUnavailable is null
            && SlotId.Parse(a.SlotId).TryGetValue(out SlotId id, out _)
            && daemon.Slots.Get(id) is { } record && Core.Accounts.AccountKinds.Of(record) is { } kind
            ? (id, kind)
            : null;

    /// <summary>An account route: a fresh access token (refreshed first when due) and the headers its CLI sends.</summary>
    private async Task<Result<Authorized>> AuthorizeAccountAsync(
        Prepared call, (SlotId Id, Core.Accounts.AccountKind Kind) account, string grantId, HttpRequest request, CancellationToken ct)
    {
        RouteDefinition route = call.Route;
        if (!Core.Accounts.AccountRouteHeaders.DriverTakesAccounts(route.Driver) || route.Driver.Name != Core.Accounts.AccountKinds.Provider(account.Kind).Name())
        {
            return KheishError.Misconfigured("credential_unavailable",
                $"route `{route.Id}` (driver {route.Driver.Name}) cannot use account slot {account.Id}; {route.Driver.Name} routes take API-key slots only");
        }

        if (daemon.Accounts is not { } accounts)
        {
            return KheishError.Unavailable("credential_unavailable", $"route `{route.Id}`: account slots are not served by this daemon");
        }

        Result<Core.Accounts.AccountAccess> access = await accounts.GetAccessAsync(account.Id, ct);
        if (!access.TryGetValue(out Core.Accounts.AccountAccess? granted, out KheishError? error))
        {
            return new KheishError(error.Code, error.Kind == ErrorKind.NotFound ? ErrorKind.Unavailable : error.Kind, $"route `{route.Id}`: {error.Message}");
        }

        try
        {
            call.Secret = System.Text.Encoding.UTF8.GetBytes(granted.AccessToken);
            return new Authorized(
                grantId,
                Core.Accounts.AccountRouteHeaders.For(route, granted, request.Headers["anthropic-beta"]),
                Core.Accounts.AccountRouteHeaders.BaseUrlText(route, granted.Kind));
        }
        catch (ArgumentException)
        {
            return KheishError.Misconfigured("credential_invalid", $"the access token of account slot {account.Id} cannot be sent in an HTTP header; import it again");
        }
    }

    /// <summary>The slot a route lease names: the auth_ref slot, or a pseudo slot for env and inline keys.</summary>
    internal static string LeaseSlotOf(RouteDefinition route) => route.Credential switch
    {
        RouteCredential.AuthRef a => a.SlotId,
        RouteCredential.EnvApiKey e => "env:" + e.VariableName,
        _ => "inline:" + route.Id.Value,
    };

    private Result<string> ResolveKey(RouteDefinition route)
    {
        switch (route.Credential)
        {
            case RouteCredential.AuthRef a:
                if (daemon.StoreUnavailable is not null)
                {
                    return KheishError.Unavailable("credential_unavailable", $"route `{route.Id}`: the secret store is not readable (no master key configured)");
                }

                return SlotId.Parse(a.SlotId).TryGetValue(out SlotId id, out KheishError? error)
                    && daemon.Slots.Get(id)?.SecretValue() is { Length: > 0 } value
                    ? value
                    : error ?? KheishError.Unavailable("credential_unavailable", $"route `{route.Id}`: auth slot `{a.SlotId}` holds no usable key; set it with 'kheish-daemon secrets set {a.SlotId}'");
            case RouteCredential.EnvApiKey e:
                return Environment.GetEnvironmentVariable(e.VariableName) is { Length: > 0 } env
                    ? env
                    : KheishError.Unavailable("credential_unavailable", $"route `{route.Id}`: environment variable {e.VariableName} is not set in the daemon's environment");
            case RouteCredential.InlineApiKey i:
                return i.Reveal();
            default:
                return KheishError.Misconfigured("credential_unavailable", $"route `{route.Id}` has no credential");
        }
    }

    private async Task<Result<RequestBody>> ReadBodyAsync(HttpRequest request, HttpContext context)
    {
        long max = options.MaxBodyBytes;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = max;
        }

        if (request.ContentLength > max)
        {
            return TooLarge(max);
        }

        bool hasBody = request.ContentLength is not null || request.Headers.TransferEncoding.Count > 0;
        if (!hasBody)
        {
            return new RequestBody(null, EmptyDigest);
        }

        var buffer = new MemoryStream(request.ContentLength is long length ? (int)length : 4096);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(CopyBufferBytes);
        try
        {
            while (true)
            {
                int read = await request.Body.ReadAsync(chunk, context.RequestAborted);
                if (read == 0)
                {
                    break;
                }

                if (buffer.Length + read > max)
                {
                    return TooLarge(max);
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(max);
        }
        catch (BadHttpRequestException)
        {
            return KheishError.BadRequest("invalid_body", "the request body could not be read (malformed framing or a client that stopped sending)");
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            return KheishError.BadRequest("client_aborted", "the client went away while sending the body");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        byte[] bytes = buffer.GetBuffer();
        int count = (int)buffer.Length;
        return new RequestBody(new ArraySegment<byte>(bytes, 0, count), Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan(0, count))));
    }

    private static KheishError TooLarge(long max) =>
        new("payload_too_large", ErrorKind.PayloadTooLarge, $"the request body is larger than {max} bytes (--egress-max-body-bytes)");

    private static HttpRequestMessage BuildUpstreamRequest(HttpRequest request, Prepared call, RequestBody body, Authorized auth)
    {
        var message = new HttpRequestMessage(new HttpMethod(request.Method), call.Target.UpstreamUri(auth.BaseUrlText ?? call.Route.BaseUrlText));
        if (body.Bytes is { } bytes)
        {
            message.Content = new ByteArrayContent(bytes.Array!, bytes.Offset, bytes.Count);
        }

        HashSet<string> connectionNamed = EgressHeaders.ConnectionNamed(request.Headers.Connection);
        foreach (KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues> header in request.Headers)
        {
            if (!EgressHeaders.ForwardRequestHeader(header.Key, connectionNamed))
            {
                continue;
            }

            if (header.Key.StartsWith("Content-", StringComparison.OrdinalIgnoreCase))
            {
                message.Content?.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string?>)header.Value);
            }
            else
            {
                message.Headers.TryAddWithoutValidation(header.Key, (IEnumerable<string?>)header.Value);
            }
        }

        foreach (KeyValuePair<string, string> injected in auth.Headers)
        {
            message.Headers.Remove(injected.Key);
            message.Headers.TryAddWithoutValidation(injected.Key, injected.Value);
        }

        return message;
    }

    /// <summary>
    /// Relays the upstream's header lines as received (NonValidated: a <c>Server</c> value is one
    /// value, not split into product tokens), minus hop-by-hop and credential headers and any
    /// header whose value holds the provider key.
    /// </summary>
    private static void CopyResponseHeaders(System.Net.Http.Headers.HttpHeaders from, IHeaderDictionary to, HashSet<string> connectionNamed, string secretText)
    {
        foreach (KeyValuePair<string, System.Net.Http.Headers.HeaderStringValues> header in from.NonValidated)
        {
            if (!EgressHeaders.RelayResponseHeader(header.Key, connectionNamed))
            {
                continue;
            }

            string[] values = [.. header.Value];
            if (values.Any(v => v.Contains(secretText, StringComparison.Ordinal)))
            {
                continue;
            }

            to[header.Key] = values;
        }
    }

    private static Result<RequestBody> ApplyModelPolicy(HttpRequest request, RouteDefinition route, RequestBody content)
    {
        if (content.Bytes is not { Count: > 0 } bytes
            || request.ContentType is not { } type
            || !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return content;
        }

        byte[] original = bytes.ToArray();
        if (!ModelPolicy.Apply(route, original).TryGetValue(out byte[]? sent, out KheishError? error))
        {
            return error;
        }

        return ReferenceEquals(sent, original)
            ? content
            : new RequestBody(new ArraySegment<byte>(sent), Convert.ToHexStringLower(SHA256.HashData(sent)));
    }

    /// <summary>A JSON body with <c>"stream": true</c> and <c>"messages"</c> (chat completions) that does not ask for <c>stream_options.include_usage</c>.</summary>
    private static bool StreamWithoutUsage(RequestBody content)
    {
        if (content.Bytes is not { Count: > 0 } bytes || bytes.AsSpan().IndexOf("\"stream\""u8) < 0)
        {
            return false;
        }

        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(bytes.AsMemory());
            System.Text.Json.JsonElement root = doc.RootElement;
            return root.ValueKind == System.Text.Json.JsonValueKind.Object
                && root.TryGetProperty("stream", out System.Text.Json.JsonElement stream) && stream.ValueKind == System.Text.Json.JsonValueKind.True
                && root.TryGetProperty("messages", out _)
                && !(root.TryGetProperty("stream_options", out System.Text.Json.JsonElement options)
                    && options.ValueKind == System.Text.Json.JsonValueKind.Object
                    && options.TryGetProperty("include_usage", out System.Text.Json.JsonElement include)
                    && include.ValueKind == System.Text.Json.JsonValueKind.True);
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    private static async Task WriteProblemAsync(HttpContext context, int status, KheishError error, string actionId)
    {
        context.Response.Headers[ActionIdHeader] = actionId;
        await ProblemResults.WriteAsync(context, error, status: status);
    }

    private static string Printable(string text) =>
        text.Length <= 64 && text.All(c => c is > ' ' and <= '~') ? text : "(unprintable or too long)";

    private static readonly string EmptyDigest = Convert.ToHexStringLower(SHA256.HashData([]));

    private sealed record Prepared(RouteDefinition Route, ContextIds Ids, EgressSubject Subject, EgressRequestTarget Target)
    {
        /// <summary>The provider key's bytes, set once it is resolved: redacted from whatever the upstream sends back.</summary>
        public byte[] Secret { get; set; } = [];

        /// <summary>The caller's API key id (null when anonymous): recorded with the call and its usage.</summary>
        public string? KeyId { get; init; }

        /// <summary>The key has a token budget: a call whose usage cannot be read is refused.</summary>
        public bool CountsTokens { get; init; }

        /// <summary>The key's budget.requests_per_day, counted with its check just before the call goes out.</summary>
        public long? RequestsPerDay { get; init; }
    }

    private sealed record Authorized(string GrantId, IReadOnlyList<KeyValuePair<string, string>> Headers, string? BaseUrlText = null)
    {
        public override string ToString() => $"Authorized {{ GrantId = {GrantId}, Headers = <redacted> }}";
    }

    private sealed record RequestBody(ArraySegment<byte>? Bytes, string Digest);

    [LoggerMessage(EventId = 801, Level = LogLevel.Warning, Message = "egress route {Route}: refused, the started record could not be written ({Code})")]
    private static partial void LogAuditRefused(ILogger logger, string route, string code);

    [LoggerMessage(EventId = 802, Level = LogLevel.Warning, Message = "egress route {Route}: upstream unreachable ({Reason})")]
    private static partial void LogUnreachable(ILogger logger, string route, string reason);

    [LoggerMessage(EventId = 803, Level = LogLevel.Warning, Message = "egress route {Route}: relay failed ({Outcome}), action {ActionId}")]
    private static partial void LogRelayFailed(ILogger logger, string route, string outcome, string actionId);

    [LoggerMessage(EventId = 804, Level = LogLevel.Error, Message = "egress {Target}: the {Phase} record could not be written ({Code})")]
    private static partial void LogCompletionNotRecorded(ILogger logger, string target, string phase, string code);
}
