using System.Globalization;
using Kheish.Core.Access;
using Kheish.Core.Errors;
using Kheish.Core.Limits;
using Kheish.Daemon.Http.ControlPlane;

namespace Kheish.Daemon.Http;

internal sealed record UsageResponse(IReadOnlyList<UsageRow> Usage, IReadOnlyList<KeyUsageView> Keys);

/// <summary>One key's standing against its limits now: today's requests and tokens, this month's tokens.</summary>
internal sealed record KeyUsageView(string KeyId, long RequestsToday, long TokensToday, long TokensThisMonth, int InFlight, ApiKeyLimits? Limits);

/// <summary>
/// <c>GET /v1/runtime/usage[?key=&amp;route=&amp;since=]</c> (admin or read-only): requests and provider
/// tokens per API key, route and UTC day (this month after a restart: it is read back from the ledger).
/// </summary>
internal static class UsageEndpoints
{
    public static void MapUsageEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/runtime/usage", IResult (HttpRequest request, DaemonContext daemon) =>
        {
            string? key = request.Query["key"].ToString() is { Length: > 0 } k ? k : null;
            string? route = request.Query["route"].ToString() is { Length: > 0 } r ? r : null;
            string? sinceText = request.Query["since"].ToString() is { Length: > 0 } s ? s : null;
            if (key is not null && !SecurityConfigFile.IsValidId(key))
            {
                return ProblemResults.Result(KheishError.BadRequest("invalid_query", "key must be an API key id (1-64 letters, digits, '.', '_' or '-'; see 'security status')"));
            }

            if (route is not null && route != "mcp" && !Kheish.Core.Routes.RouteId.TryParse(route, out _, out _))
            {
                return ProblemResults.Result(KheishError.BadRequest("invalid_query", "route must be a route id from the routes file, or mcp"));
            }

            DateTimeOffset? since = null;
            if (sinceText is not null)
            {
                if (!DateTimeOffset.TryParse(sinceText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset parsed))
                {
                    return ProblemResults.Result(KheishError.BadRequest("invalid_query", "since must be an ISO 8601 date or timestamp such as 2026-01-31 or 2026-01-31T12:00:00Z"));
                }

                since = parsed;
            }

            UsageBook book = daemon.Limits.Usage;
            IReadOnlyList<UsageRow> rows = book.Query(key, route, since);
            SecurityConfigSnapshot security = daemon.AgentSecurity.Current();
            IEnumerable<ApiKeyEntry> entries = security.IsValid ? security.Config.ApiKeys : [];
            IReadOnlyList<KeyUsageView> keys = [.. entries
                .Where(e => key is null || e.Id == key)
                .Select(e =>
                {
                    KeyStanding standing = book.Standing(e.Id);
                    return new KeyUsageView(e.Id, standing.RequestsToday, standing.TokensToday, standing.TokensThisMonth, daemon.Limits.InFlight(e.Id), e.Limits);
                })];
            return TypedResults.Json(new UsageResponse(rows, keys), HttpJsonContext.Default.UsageResponse);
        }).AllowReadOnly();
    }
}
