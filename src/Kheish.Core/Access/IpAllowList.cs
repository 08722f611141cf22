using System.Net;

namespace Kheish.Core.Access;

/// <summary>
/// A list of <see cref="IpRule"/>s. For <c>allowed_ips</c> an empty list permits every address
/// (seed "IP Allowlists"); for <c>trusted_proxies</c> an empty list trusts nobody.
/// </summary>
internal sealed class IpAllowList
{
    public static readonly IpAllowList Empty = new([]);

    public IpAllowList(IReadOnlyList<IpRule> rules) => Rules = rules;

    public IReadOnlyList<IpRule> Rules { get; }

    public bool IsEmpty => Rules.Count == 0;

    /// <summary>True when some rule matches; the address must already be <see cref="IpRule.Normalize"/>d.</summary>
    public bool Matches(IPAddress normalizedAddress)
    {
        foreach (IpRule rule in Rules)
        {
            if (rule.Contains(normalizedAddress))
            {
                return true;
            }
        }

        return false;
    }

    public IEnumerable<string> Entries => Rules.Select(r => r.ToString());
}
