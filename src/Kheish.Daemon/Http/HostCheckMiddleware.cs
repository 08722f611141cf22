using System.Net;
using Kheish.Core.Errors;
using Kheish.Daemon.Http.ControlPlane;

namespace Kheish.Daemon.Http;

/// <summary>
/// DNS-rebinding guard for every path of both planes: a page on attacker.example whose name
/// resolves to 127.0.0.1 reaches this listener with <c>Host: attacker.example</c>. Only the
/// bind address, <c>localhost</c>, loopback literals and <c>--allowed-host</c> names are
/// answered; any other Host gets 421 problem+json. On a wildcard bind (0.0.0.0, ::) any IP
/// literal is accepted: a literal cannot be rebound, and probes use the host's own address.
/// </summary>
internal sealed class HostCheckMiddleware(RequestDelegate next, HostPolicy policy, AuthRejections rejections)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (policy.IsAllowed(context.Request.Host))
        {
            await next(context);
            return;
        }

        _ = rejections.Record(context, "host_rejected", "host_not_allowed");
        string shown = Printable(context.Request.Host.Value ?? "");
        KheishError error = new("host_not_allowed", ErrorKind.MisdirectedRequest,
            shown.Length == 0
                ? "the request has no Host header; send the daemon's address as Host"
                : $"Host '{shown}' is not served here (DNS rebinding guard); allowed: the bind address, localhost, loopback addresses and --allowed-host names");
        await ProblemResults.WriteAsync(context, error);
    }

    private static string Printable(string s)
    {
        Span<char> buffer = stackalloc char[Math.Min(s.Length, 100)];
        for (int i = 0; i < buffer.Length; i++)
        {
            buffer[i] = char.IsControl(s[i]) ? '?' : s[i];
        }

        return new string(buffer);
    }
}

/// <summary>Which Host header values the daemon answers to (see <see cref="HostCheckMiddleware"/>).</summary>
internal sealed class HostPolicy(IPAddress bind, IReadOnlyCollection<string> allowedHosts)
{
    private readonly HashSet<string> _names = new(
        allowedHosts.Select(h => h.Trim().TrimEnd('.')), StringComparer.OrdinalIgnoreCase);

    private readonly bool _wildcard = bind.Equals(IPAddress.Any) || bind.Equals(IPAddress.IPv6Any);

    public bool IsAllowed(HostString host)
    {
        if (!host.HasValue)
        {
            return false;
        }

        string name = host.Host;
        if (name.Length == 0)
        {
            return false;
        }

        if (name.Equals("localhost", StringComparison.OrdinalIgnoreCase) || _names.Contains(name.TrimEnd('.')))
        {
            return true;
        }

        if (!IPAddress.TryParse(name.Trim('[', ']'), out IPAddress? ip))
        {
            return false;
        }

        ip = Kheish.Core.Access.IpRule.Normalize(ip);
        return _wildcard || IPAddress.IsLoopback(ip) || ip.Equals(Kheish.Core.Access.IpRule.Normalize(bind));
    }
}
