namespace Kheish.Daemon.Http.ControlPlane;

/// <summary>
/// CORS for the control plane: a request without <c>Origin</c> passes; an <c>Origin</c> must be
/// http(s) on localhost, 127.0.0.0/8 or [::1], or listed with <c>--cors-allow-origin</c>.
/// </summary>
internal sealed class OriginPolicy(IReadOnlyCollection<string> extraOrigins)
{
    private readonly HashSet<string> _extra = new(
        extraOrigins.Select(o => o.TrimEnd('/')), StringComparer.OrdinalIgnoreCase);

    public bool IsAllowed(string origin)
    {
        if (_extra.Contains(origin.TrimEnd('/')))
        {
            return true;
        }

        if (!Uri.TryCreate(origin, UriKind.Absolute, out Uri? uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            return false;
        }

        string host = uri.Host;
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        return System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var ip) && Kheish.Core.Access.AgentAccessPolicy.IsLoopback(ip);
    }
}
