using System.Security.Cryptography;
using NSec.Cryptography;

namespace Kheish.Core.Crypto;

/// <summary>Ed25519 (RFC 8032, pure, no context) through NSec.Cryptography and libsodium.</summary>
internal static class Ed25519
{
    public const int SeedSize = 32;
    public const int PublicKeySize = 32;
    public const int SignatureSize = 64;

    /// <summary>
    /// True only for a well-formed signature of <paramref name="message"/> under
    /// <paramref name="publicKey"/>. Wrong lengths, bad points and bad signatures are all
    /// just false: verification of attacker-controlled input never throws.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        using Ed25519PublicKey? key = Ed25519PublicKey.TryImport(publicKey);
        return key is not null && key.Verify(message, signature);
    }

    /// <summary>The algorithm, reached only after the embedded libsodium is loaded.</summary>
    internal static SignatureAlgorithm Algorithm
    {
        get
        {
            Libsodium.EnsureLoaded();
            return SignatureAlgorithm.Ed25519;
        }
    }
}

/// <summary>
/// An Ed25519 signing key made from its 32-byte seed. The key lives in NSec's <see cref="Key"/>
/// (libsodium guarded memory) with no export allowed; only the public key leaves it. Thread-safe.
/// </summary>
internal sealed class Ed25519PrivateKey : IDisposable
{
    private readonly Key _key;

    private Ed25519PrivateKey(Key key)
    {
        _key = key;
        PublicKey = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
        PublicKeyHex = Convert.ToHexStringLower(PublicKey);
    }

    public byte[] PublicKey { get; }

    /// <summary>The lowercase hex public key: the ledger's <c>key_id</c> and the value to pin.</summary>
    public string PublicKeyHex { get; }

    public static Ed25519PrivateKey FromSeed(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != Ed25519.SeedSize)
        {
            throw new ArgumentException($"an Ed25519 seed is {Ed25519.SeedSize} bytes, got {seed.Length}", nameof(seed));
        }

        // ExportPolicy None: not even this process can read the private key back out of the handle.
        var key = Key.Import(
            Ed25519.Algorithm,
            seed,
            KeyBlobFormat.RawPrivateKey,
            new KeyCreationParameters { ExportPolicy = KeyExportPolicies.None });
        return new Ed25519PrivateKey(key);
    }

    public static Ed25519PrivateKey Generate()
    {
        Span<byte> seed = stackalloc byte[Ed25519.SeedSize];
        RandomNumberGenerator.Fill(seed);
        try
        {
            return FromSeed(seed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    public byte[] Sign(ReadOnlySpan<byte> message)
    {
        byte[] signature = new byte[Ed25519.SignatureSize];
        Sign(message, signature);
        return signature;
    }

    public void Sign(ReadOnlySpan<byte> message, Span<byte> signature)
    {
        if (signature.Length < Ed25519.SignatureSize)
        {
            throw new ArgumentException("the signature buffer is shorter than 64 bytes", nameof(signature));
        }

        SignatureAlgorithm.Ed25519.Sign(_key, message, signature[..Ed25519.SignatureSize]);
    }

    public void Dispose() => _key.Dispose();
}

/// <summary>An imported Ed25519 public key; reuse it to verify many signatures. Thread-safe.</summary>
internal sealed class Ed25519PublicKey : IDisposable
{
    private readonly PublicKey _key;

    private Ed25519PublicKey(PublicKey key) => _key = key;

    /// <summary>The key, or null when <paramref name="publicKey"/> is not 32 bytes or NSec refuses it.</summary>
    public static Ed25519PublicKey? TryImport(ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != Ed25519.PublicKeySize)
        {
            return null;
        }

        return NSec.Cryptography.PublicKey.TryImport(Ed25519.Algorithm, publicKey, KeyBlobFormat.RawPublicKey, out PublicKey? key)
            ? new Ed25519PublicKey(key!)
            : null;
    }

    public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) =>
        signature.Length == Ed25519.SignatureSize && SignatureAlgorithm.Ed25519.Verify(_key, message, signature);

    /// <summary>NSec's public keys hold no native resource; kept so callers' <c>using</c> stays valid.</summary>
    public void Dispose()
    {
    }
}
