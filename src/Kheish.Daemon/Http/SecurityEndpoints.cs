using Kheish.Core.Access;
using Kheish.Core.Errors;
using Kheish.Daemon.Cli;

namespace Kheish.Daemon.Http;

internal sealed record KeyCreateRequest(string? Principal = null, ApiKeyScope? Scope = null)
{
    public int? RateLimit { get; init; }

    public int? MaxConcurrent { get; init; }

    public ApiKeyBudget? Budget { get; init; }
}

internal sealed record IpEntryRequest(string Entry, bool AllowEmpty = false);

internal sealed record ModeRequest(string Mode);

/// <summary>
/// Admin HTTP equivalents of <c>kheish-daemon security ...</c>, acting on the security.json in
/// effect for this daemon. The running agent plane sees each edit on its next request.
/// </summary>
internal static class SecurityEndpoints
{
    public static void MapSecurityEndpoints(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("/v1/runtime/security");

        group.MapGet("/", (DaemonContext daemon) =>
            TypedResults.Json(SecurityStatusOutput.From(daemon.AgentSecurity.Current()), SecurityCliJsonContext.Default.SecurityStatusOutput));

        group.MapPost("/keys", async Task<IResult> (HttpRequest request, DaemonContext daemon) =>
        {
            Result<KeyCreateRequest> body = await RequestBody.ReadAsync(request, HttpJsonContext.Default.KeyCreateRequest);
            if (!body.TryGetValue(out KeyCreateRequest? create, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            if (create.Principal is { } principal
                && Kheish.Core.Egress.EgressSubject.TryPrincipalSubject(principal, out Kheish.Core.Broker.SubjectId subject)
                && daemon.Broker.IsSubjectRevoked(subject))
            {
                return ProblemResults.Result(KheishError.Conflict(Kheish.Core.Broker.BrokerErrors.SubjectRevoked,
                    $"principal `{subject.Value}` has been revoked; a key for it could never act. Use another principal"));
            }

            SecurityConfigTarget target = Target(daemon);
            Result<(ApiKeyEntry Entry, string Key)> made = SecurityConfigOperations.GenerateKey(
                target, create.Principal, create.Scope, ApiKeyLimits.OrNull(create.RateLimit, create.MaxConcurrent, create.Budget));
            return made.TryGetValue(out var key, out error)
                ? TypedResults.Json(new GeneratedKeyOutput(key.Entry.Id, key.Key, key.Entry.Principal, target.File), SecurityCliJsonContext.Default.GeneratedKeyOutput)
                : ProblemResults.Result(error);
        }).Accepts<KeyCreateRequest>("application/json");

        group.MapDelete("/keys/{id}", IResult (string id, DaemonContext daemon) =>
        {
            SecurityConfigTarget target = Target(daemon);
            Result<string> revoked = SecurityConfigOperations.RevokeKey(target, id);
            return revoked.TryGetValue(out string? message, out KheishError? error)
                ? Edited(target, "revoke-key", true, message)
                : ProblemResults.Result(error);
        });

        group.MapPost("/allowed-ips", async Task<IResult> (HttpRequest request, DaemonContext daemon) =>
        {
            Result<IpEntryRequest> body = await RequestBody.ReadAsync(request, HttpJsonContext.Default.IpEntryRequest);
            if (!body.TryGetValue(out IpEntryRequest? ip, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            SecurityConfigTarget target = Target(daemon);
            var added = SecurityConfigOperations.AllowIp(target, ip.Entry);
            return added.TryGetValue(out var outcome, out error)
                ? Edited(target, "allow-ip", outcome.Changed, $"{outcome.Rule} allowed")
                : ProblemResults.Result(error);
        }).Accepts<IpEntryRequest>("application/json");

        group.MapPost("/allowed-ips/remove", async Task<IResult> (HttpRequest request, DaemonContext daemon) =>
        {
            Result<IpEntryRequest> body = await RequestBody.ReadAsync(request, HttpJsonContext.Default.IpEntryRequest);
            if (!body.TryGetValue(out IpEntryRequest? ip, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            SecurityConfigTarget target = Target(daemon);
            var removed = SecurityConfigOperations.DenyIp(target, ip.Entry, ip.AllowEmpty);
            return removed.TryGetValue(out var outcome, out error)
                ? Edited(target, "deny-ip", true, $"{outcome.Rule} removed; {outcome.Remaining} entr(ies) left")
                : ProblemResults.Result(error);
        }).Accepts<IpEntryRequest>("application/json");

        group.MapPut("/mode", async Task<IResult> (HttpRequest request, DaemonContext daemon) =>
        {
            Result<ModeRequest> body = await RequestBody.ReadAsync(request, HttpJsonContext.Default.ModeRequest);
            if (!body.TryGetValue(out ModeRequest? mode, out KheishError? error))
            {
                return ProblemResults.Result(error);
            }

            if (!SecurityModes.TryParse(mode.Mode, out SecurityMode parsed))
            {
                return ProblemResults.Result(KheishError.BadRequest("invalid_mode", "mode must be strict, relaxed or lax"));
            }

            if (parsed == SecurityMode.Lax && !daemon.AgentSecurity.LaxPermitted)
            {
                // Written, it would make every agent request a 503: refuse the write instead.
                return ProblemResults.Result(KheishError.Conflict("lax_not_permitted",
                    "this daemon listens on a network address without --allow-lax-on-network, so lax (no API key checks) would be refused on every agent request; the mode was not changed"));
            }

            SecurityConfigTarget target = Target(daemon);
            Result<int> set = SecurityConfigOperations.SetMode(target, parsed);
            return set.IsOk
                ? Edited(target, "set-mode", true, $"mode is now {parsed.Name()}: {parsed.Meaning()}")
                : ProblemResults.Result(set.Error);
        }).Accepts<ModeRequest>("application/json");
    }

    private static SecurityConfigTarget Target(DaemonContext daemon) =>
        SecurityConfigTarget.Choose(daemon.AgentSecurity.Location, global: false, projectRootGiven: false);

    private static Microsoft.AspNetCore.Http.HttpResults.JsonHttpResult<SecurityEditOutput> Edited(SecurityConfigTarget target, string action, bool changed, string message) =>
        TypedResults.Json(new SecurityEditOutput(target.File, action, changed, message), SecurityCliJsonContext.Default.SecurityEditOutput);
}
