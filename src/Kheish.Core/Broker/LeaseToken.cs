using System.Buffers.Text;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace Kheish.Core.Broker;

/// <summary>
/// Lease tokens: base64url (no padding) of 32 CSPRNG bytes; the broker keeps the SHA-256
/// digest of the token's ASCII text. <see cref="Key"/> is the digest as a dictionary key, so
/// a lookup is one hash probe and never a scan.
/// </summary>
internal static class LeaseToken
{
    public const int TokenBytes = 32;
    public const int TokenLength = 43;
    public const int DigestBytes = 32;

    public static string New()
    {
        Span<byte> raw = stackalloc byte[TokenBytes];
        RandomNumberGenerator.Fill(raw);
        string token = FromRandom(raw);
        CryptographicOperations.ZeroMemory(raw);
        return token;
    }

    /// <summary>The token text for <see cref="TokenBytes"/> bytes the caller drew from the CSPRNG.</summary>
    public static string FromRandom(ReadOnlySpan<byte> random) => Base64Url.EncodeToString(random[..TokenBytes]);

    /// <summary>Computes the digest of <paramref name="token"/>; false when it cannot be a token.</summary>
    public static bool TryDigest(string? token, Span<byte> digest)
    {
        if (token is null || token.Length != TokenLength)
        {
            return false;
        }

        Span<byte> ascii = stackalloc byte[TokenLength];
        foreach (char c in token)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return false;
            }
        }

        Encoding.ASCII.GetBytes(token, ascii);
        SHA256.HashData(ascii, digest);
        return true;
    }

    public static byte[] Digest(string token)
    {
        byte[] digest = new byte[DigestBytes];
        if (!TryDigest(token, digest))
        {
            throw new ArgumentException("not a lease token", nameof(token));
        }

        return digest;
    }

    public static string Encode(ReadOnlySpan<byte> digest) => Base64Url.EncodeToString(digest);

    public static bool TryDecode(string? text, out byte[] digest)
    {
        digest = new byte[DigestBytes];
        return text is not null
            && Base64Url.TryDecodeFromChars(text, digest, out int written)
            && written == DigestBytes;
    }

    /// <summary>The digest as a value key for the digest → lease map.</summary>
    internal readonly record struct Key(ulong A, ulong B, ulong C, ulong D)
    {
        public static Key From(ReadOnlySpan<byte> digest)
        {
            ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(digest);
            return new Key(words[0], words[1], words[2], words[3]);
        }
    }
}
