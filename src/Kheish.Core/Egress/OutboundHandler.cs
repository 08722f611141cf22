using System.Diagnostics;
using System.Net.Http;

namespace Kheish.Core.Egress;

/// <summary>
/// The one way the daemon builds a handler for a request it makes itself (provider egress, MCP
/// upstreams, token refresh, connector platforms, witnesses): redirects are never followed (a
/// redirect could carry an injected credential elsewhere), no cookies are kept, and no
/// <c>traceparent</c>/<c>tracestate</c>/<c>baggage</c> of the daemon's own is added (the daemon's
/// request ids stay private to it).
/// </summary>
public static class OutboundHandler
{
    public static SocketsHttpHandler Create(TimeSpan connectTimeout) => new()
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        ConnectTimeout = connectTimeout,
        ActivityHeadersPropagator = DistributedContextPropagator.CreateNoOutputPropagator(),
    };
}
