using System.Net;
using Kheish.Core.Errors;

namespace Kheish.Core.Access;

/// <summary>
/// The agent-plane admission rule, as a pure function of the configuration snapshot and what
/// the request carries. Order: unusable config (503) → IP allowlist (403) → API key (401).
/// </summary>
internal static class AgentAccessPolicy
{
    public const string Realm = "kheish-agent";
    public const string MissingKeyCode = "missing_api_key";
    public const string InvalidKeyCode = "invalid_api_key";
    public const string IpNotAllowedCode = "ip_not_allowed";
    public const string ConfigInvalidCode = SecurityConfigFile.Code;

    private const int MaxForwardedEntries = 32;

    private static readonly string ChallengeMissing = $"Bearer realm=\"{Realm}\"";
    private static readonly string ChallengeInvalid = $"Bearer realm=\"{Realm}\", error=\"invalid_token\"";

    /// <summary>
    /// Decides one request.
    /// <list type="bullet">
    /// <item>strict: a valid key is required.</item>
    /// <item>relaxed: no key → anonymous; a presented key must be valid.</item>
    /// <item>lax: no authentication; a valid key still identifies its principal and narrows its
    /// scope (a key can only narrow), anything else is anonymous.</item>
    /// </list>
    /// The key is read from <c>X-API-Key</c>, else from <c>Authorization: Bearer</c>.
    /// </summary>
    public static AgentAccessDecision Evaluate(
        SecurityConfigSnapshot snapshot,
        IPAddress socketAddress,
        string? xForwardedFor,
        string? xApiKey,
        string? authorization)
    {
        if (!snapshot.IsValid)
        {
            return new AgentAccessDenied(503, snapshot.Error with { Code = ConfigInvalidCode }, null, null);
        }

        SecurityConfig config = snapshot.Config;
        ClientAddressResult client = ResolveClientAddress(config.TrustedProxies, socketAddress, xForwardedFor);
        if (!config.AllowedIps.IsEmpty)
        {
            if (client.Error is not null)
            {
                return new AgentAccessDenied(403, KheishError.Forbidden(IpNotAllowedCode, client.Error), null, null);
            }

            if (!config.AllowedIps.Matches(client.Address!))
            {
                return new AgentAccessDenied(
                    403,
                    KheishError.Forbidden(IpNotAllowedCode, $"client address {client.Address} ({client.Source}) is not in the agent-plane IP allowlist"),
                    null,
                    client.Address);
            }
        }

        IPAddress address = client.Address ?? IpRule.Normalize(socketAddress);
        PresentedKey presented = ExtractKey(xApiKey, authorization);
        ApiKeyEntry? entry = presented.Key is null ? null : Lookup(config, presented.Key);

        switch (config.Mode)
        {
            case SecurityMode.Lax:
                return entry is null
                    ? new AgentAccessAllowed(AgentAccessAllowed.AnonymousPrincipal, null, SecurityMode.Lax, null, address)
                    : Allowed(entry, SecurityMode.Lax, address);

            case SecurityMode.Relaxed when presented.IsAbsent:
                return new AgentAccessAllowed(AgentAccessAllowed.AnonymousPrincipal, null, SecurityMode.Relaxed, null, address);

            case SecurityMode.Strict when presented.IsAbsent:
                return new AgentAccessDenied(
                    401,
                    KheishError.Unauthorized(MissingKeyCode, "an API key is required: send it in the X-API-Key header (or Authorization: Bearer <key>)"),
                    ChallengeMissing,
                    address);

            default:
                return entry is not null
                    ? Allowed(entry, config.Mode, address)
                    : new AgentAccessDenied(
                        401,
                        KheishError.Unauthorized(InvalidKeyCode, presented.Problem ?? "the API key presented is not valid (unknown or revoked)"),
                        ChallengeInvalid,
                        address);
        }
    }

    /// <summary>
    /// Refuses a lax configuration on a non-loopback listen address unless the operator said
    /// <c>--allow-lax-on-network</c>. An unusable config does not block start: the control
    /// plane must come up so the operator can fix it, and the agent plane refuses meanwhile.
    /// </summary>
    public static Result<SecurityConfigSnapshot> CheckBindAllowed(SecurityConfigSnapshot snapshot, IPEndPoint bind, bool allowLaxOnNetwork)
    {
        if (snapshot.IsValid && snapshot.Config.Mode == SecurityMode.Lax && !IsLoopback(bind.Address) && !allowLaxOnNetwork)
        {
            return KheishError.Misconfigured(
                "lax_on_network",
                $"security mode is lax (no authentication) in {snapshot.Describe()} but the daemon would listen on {bind}, which is reachable from the network. " +
                "Listen on 127.0.0.1 or ::1, switch to strict or relaxed ('kheish-daemon security set-mode strict'), or pass --allow-lax-on-network if every host that can reach it is trusted.");
        }

        return snapshot;
    }

    /// <summary>Loopback only: 127.0.0.0/8, ::1 and their IPv4-mapped forms. 0.0.0.0 and :: are the network.</summary>
    public static bool IsLoopback(IPAddress address) => IPAddress.IsLoopback(IpRule.Normalize(address));

    /// <summary>
    /// The client address: the socket's. Only when the socket peer is a trusted proxy is
    /// X-Forwarded-For consulted, walking from the right (the entry our proxy appended) and
    /// skipping entries that are themselves trusted proxies; the first other address is the
    /// client. Entries left of it were written by the client and are never believed.
    /// </summary>
    public static ClientAddressResult ResolveClientAddress(IpAllowList trustedProxies, IPAddress socketAddress, string? xForwardedFor)
    {
        IPAddress peer = IpRule.Normalize(socketAddress);
        if (trustedProxies.IsEmpty || string.IsNullOrWhiteSpace(xForwardedFor) || !trustedProxies.Matches(peer))
        {
            return new ClientAddressResult(peer, "socket peer", null);
        }

        ReadOnlySpan<char> rest = xForwardedFor;
        IPAddress current = peer;
        for (int n = 0; n < MaxForwardedEntries; n++)
        {
            int comma = rest.LastIndexOf(',');
            ReadOnlySpan<char> token = (comma < 0 ? rest : rest[(comma + 1)..]).Trim();
            if (!TryParseForwarded(token, out IPAddress? hop))
            {
                return new ClientAddressResult(null, "X-Forwarded-For", $"the X-Forwarded-For header from trusted proxy {peer} holds an entry that is not an IP address");
            }

            current = IpRule.Normalize(hop);
            if (!trustedProxies.Matches(current))
            {
                return new ClientAddressResult(current, $"X-Forwarded-For via trusted proxy {peer}", null);
            }

            if (comma < 0)
            {
                // Every hop is a trusted proxy: the left-most one is the origin.
                return new ClientAddressResult(current, $"X-Forwarded-For via trusted proxy {peer}", null);
            }

            rest = rest[..comma];
        }

        return new ClientAddressResult(null, "X-Forwarded-For", $"the X-Forwarded-For header from trusted proxy {peer} has more than {MaxForwardedEntries} trusted hops");
    }

    private static bool TryParseForwarded(ReadOnlySpan<char> token, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address)
    {
        if (IPAddress.TryParse(token, out address))
        {
            return true;
        }

        // Some proxies append the port: 203.0.113.7:51234 or [2001:db8::7]:51234.
        if (IPEndPoint.TryParse(token, out IPEndPoint? endpoint))
        {
            address = endpoint.Address;
            return true;
        }

        address = null;
        return false;
    }

    private static AgentAccessAllowed Allowed(ApiKeyEntry entry, SecurityMode mode, IPAddress address) =>
        new(entry.Principal, entry.Id, mode, entry.Scope, address) { Limits = entry.Limits };

    private static ApiKeyEntry? Lookup(SecurityConfig config, string key) =>
        key.Length > ApiKeys.MaxPresentedLength ? null : config.FindByDigest(ApiKeys.Digest(key));

    private static PresentedKey ExtractKey(string? xApiKey, string? authorization)
    {
        if (!string.IsNullOrWhiteSpace(xApiKey))
        {
            return new PresentedKey(xApiKey.Trim(), null, IsAbsent: false);
        }

        if (string.IsNullOrWhiteSpace(authorization))
        {
            return new PresentedKey(null, null, IsAbsent: true);
        }

        ReadOnlySpan<char> value = authorization.AsSpan().Trim();
        if (value.Length > 7 && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            string key = value[7..].Trim().ToString();
            return key.Length > 0
                ? new PresentedKey(key, null, IsAbsent: false)
                : new PresentedKey(null, "the Authorization header has an empty Bearer credential", IsAbsent: false);
        }

        // A credential of another kind (Basic, a raw token) was presented: it is not an API key,
        // and a presented credential must be valid (relaxed) — so it is refused, not ignored.
        return new PresentedKey(null, "the Authorization header must be 'Bearer <api key>' (or send the key in X-API-Key)", IsAbsent: false);
    }

    private readonly record struct PresentedKey(string? Key, string? Problem, bool IsAbsent);
}

/// <summary>The client address and how it was found, or why it could not be.</summary>
internal readonly record struct ClientAddressResult(IPAddress? Address, string Source, string? Error);
