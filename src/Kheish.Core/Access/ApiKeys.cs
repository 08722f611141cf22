using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Kheish.Core.Access;

/// <summary>
/// Agent-plane API keys: <c>kheish_</c> + 64 lower-case hex digits (256 bits from the OS CSPRNG).
/// Only the SHA-256 digest is ever stored; the key is shown once, at creation.
/// </summary>
internal static class ApiKeys
{
    public const string Prefix = "kheish_";
    public const string DigestPrefix = "sha256:";
    public const int KeyBytes = 32;

    /// <summary>Longer presented keys are rejected without hashing: no generated key comes close.</summary>
    public const int MaxPresentedLength = 512;

    private static readonly System.Buffers.SearchValues<char> LowerHex = System.Buffers.SearchValues.Create("0123456789abcdef");
    private static readonly System.Buffers.SearchValues<char> AnyHex = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    public static string Generate() =>
        Prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(KeyBytes));

    public static bool LooksGenerated(string text) =>
        text.Length == Prefix.Length + (2 * KeyBytes)
        && text.StartsWith(Prefix, StringComparison.Ordinal)
        && text.AsSpan(Prefix.Length).ContainsAnyExcept(LowerHex) is false;

    /// <summary>SHA-256 of the key's UTF-8 bytes.</summary>
    public static KeyDigest Digest(ReadOnlySpan<char> key)
    {
        int max = Encoding.UTF8.GetMaxByteCount(key.Length);
        byte[]? rented = null;
        Span<byte> utf8 = max <= 1024 ? stackalloc byte[1024] : (rented = new byte[max]);
        int n = Encoding.UTF8.GetBytes(key, utf8);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(utf8[..n], hash);
        CryptographicOperations.ZeroMemory(utf8[..n]);
        return KeyDigest.FromBytes(hash);
    }

    /// <summary>A stable public id derived from the digest (12 hex digits, 48 bits: enough to tell keys apart).</summary>
    public static string DeriveId(KeyDigest digest) => digest.ToHex()[..12];

    public static string FormatDigest(KeyDigest digest) => DigestPrefix + digest.ToHex();

    public static bool TryParseDigest(string text, out KeyDigest digest)
    {
        digest = default;
        if (!text.StartsWith(DigestPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        ReadOnlySpan<char> hex = text.AsSpan(DigestPrefix.Length);
        if (hex.Length != 64 || hex.ContainsAnyExcept(AnyHex))
        {
            return false;
        }

        digest = KeyDigest.FromBytes(Convert.FromHexString(hex));
        return true;
    }
}

/// <summary>
/// A SHA-256 digest as four machine words: a cheap dictionary key (lookup by digest, never a
/// scan) that still compares its bytes in constant time once found.
/// </summary>
internal readonly record struct KeyDigest(ulong A, ulong B, ulong C, ulong D)
{
    public static KeyDigest FromBytes(ReadOnlySpan<byte> hash)
    {
        if (hash.Length != 32)
        {
            throw new ArgumentException("a SHA-256 digest is 32 bytes", nameof(hash));
        }

        return new(
            BinaryPrimitives.ReadUInt64BigEndian(hash),
            BinaryPrimitives.ReadUInt64BigEndian(hash[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(hash[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(hash[24..]));
    }

    public void CopyTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, A);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], B);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], C);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], D);
    }

    public bool FixedTimeEquals(KeyDigest other)
    {
        Span<byte> a = stackalloc byte[32];
        Span<byte> b = stackalloc byte[32];
        CopyTo(a);
        other.CopyTo(b);
        return CryptographicOperations.FixedTimeEquals(a, b);
    }

    public string ToHex()
    {
        Span<byte> bytes = stackalloc byte[32];
        CopyTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}
