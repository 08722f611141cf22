using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Kheish.Core.Errors;

namespace Kheish.Core.Access;

/// <summary>
/// One IP allowlist or trusted-proxy entry: a single address or a CIDR range, IPv4 or IPv6.
/// IPv4-mapped IPv6 entries are stored as IPv4, and addresses are normalised the same way
/// before matching, so <c>::ffff:127.0.0.1</c> and <c>127.0.0.1</c> are one client.
/// </summary>
internal readonly record struct IpRule(IPNetwork Network, bool IsSingleAddress)
{
    /// <summary>The canonical text written back to the file: <c>10.0.0.0/8</c>, <c>::1</c>.</summary>
    public override string ToString() => IsSingleAddress ? Network.BaseAddress.ToString() : Network.ToString();

    public bool Contains(IPAddress normalizedAddress) => Network.Contains(normalizedAddress);

    /// <summary>Parses an entry strictly, with an error that says exactly what is wrong.</summary>
    public static Result<IpRule> Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Invalid(text ?? "", "an address or CIDR range is required, e.g. 127.0.0.1, ::1, 10.0.0.0/8 or fd00::/8");
        }

        string entry = text.Trim();
        int slash = entry.IndexOf('/', StringComparison.Ordinal);
        string addressText = slash < 0 ? entry : entry[..slash];
        if (!TryParseAddress(addressText, out IPAddress? address, out string? why))
        {
            return Invalid(entry, why);
        }

        int maxPrefix = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        int prefix = maxPrefix;
        if (slash >= 0)
        {
            string prefixText = entry[(slash + 1)..];
            if (prefixText.Length is 0 or > 3 || !prefixText.All(char.IsAsciiDigit)
                || !int.TryParse(prefixText, NumberStyles.None, CultureInfo.InvariantCulture, out prefix)
                || prefix > maxPrefix)
            {
                return Invalid(entry, $"the prefix length must be a number from 0 to {maxPrefix}");
            }
        }

        if (address.IsIPv4MappedToIPv6)
        {
            if (prefix < 96)
            {
                return Invalid(entry, "an IPv4-mapped range needs a prefix of at least /96; write the IPv4 range instead");
            }

            address = address.MapToIPv4();
            prefix -= 96;
            maxPrefix = 32;
        }

        var network = new IPNetwork(Truncate(address, prefix), prefix);
        if (!network.BaseAddress.Equals(address))
        {
            return Invalid(entry, $"the address has bits set beyond the /{prefix} prefix; the range is {network}");
        }

        return new IpRule(network, prefix == maxPrefix);
    }

    /// <summary>
    /// Strict address syntax for configuration: IPv4 only as four decimal parts without leading
    /// zeros (no <c>127.1</c>, no octal look-alikes), IPv6 without a zone id or brackets.
    /// </summary>
    public static bool TryParseAddress(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPAddress? address, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        address = null;
        if (text.Contains(':', StringComparison.Ordinal))
        {
            if (text.Contains('%', StringComparison.Ordinal))
            {
                error = "IPv6 zone ids (%eth0) are not allowed";
                return false;
            }

            if (text.StartsWith('[') || !IPAddress.TryParse(text, out address) || address.AddressFamily != AddressFamily.InterNetworkV6)
            {
                error = "not a valid IPv6 address (write it without brackets or port, e.g. ::1 or fd00::1)";
                return false;
            }

            error = null;
            return true;
        }

        string[] parts = text.Split('.');
        if (parts.Length != 4)
        {
            error = "not a valid IPv4 address (four decimal numbers 0-255 separated by dots, e.g. 192.168.1.10)";
            return false;
        }

        Span<byte> bytes = stackalloc byte[4];
        for (int i = 0; i < 4; i++)
        {
            string p = parts[i];
            if (p.Length is 0 or > 3 || !p.All(char.IsAsciiDigit) || (p.Length > 1 && p[0] == '0')
                || !byte.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out bytes[i]))
            {
                error = "not a valid IPv4 address (four decimal numbers 0-255 without leading zeros, e.g. 192.168.1.10)";
                return false;
            }
        }

        address = new IPAddress(bytes);
        error = null;
        return true;
    }

    /// <summary>IPv4-mapped IPv6 becomes IPv4 and an IPv6 zone id is dropped, so equal clients compare equal.</summary>
    public static IPAddress Normalize(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0)
        {
            return new IPAddress(address.GetAddressBytes());
        }

        return address;
    }

    private static IPAddress Truncate(IPAddress address, int prefix)
    {
        byte[] bytes = address.GetAddressBytes();
        for (int bit = prefix; bit < bytes.Length * 8; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        return new IPAddress(bytes);
    }

    private static KheishError Invalid(string entry, string why) =>
        KheishError.BadRequest("invalid_ip_entry", $"'{entry}' is not a valid address or CIDR range: {why}");
}
