using System.Security.Cryptography;

namespace Kheish.Core.Crypto;

/// <summary>Ed25519 (RFC 8032, pure, no context) through OpenSSL libcrypto.</summary>
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
}

/// <summary>An Ed25519 signing key made from its 32-byte seed. Thread-safe.</summary>
internal sealed class Ed25519PrivateKey : IDisposable
{
    private readonly SafeEvpPkeyHandle _key;
    private readonly ReusableContexts _contexts;

    private Ed25519PrivateKey(SafeEvpPkeyHandle key, byte[] publicKey)
    {
        _key = key;
        _contexts = new ReusableContexts(key, sign: true);
        PublicKey = publicKey;
        PublicKeyHex = Convert.ToHexStringLower(publicKey);
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

        SafeEvpPkeyHandle key = LibCrypto.EvpPkeyNewRawPrivateKey(LibCrypto.EvpPkeyEd25519, IntPtr.Zero, seed, (nuint)seed.Length);
        if (key.IsInvalid)
        {
            key.Dispose();
            LibCrypto.ErrClearError();
            throw new CryptographicException("OpenSSL could not create an Ed25519 key from the seed");
        }

        byte[] publicKey = new byte[Ed25519.PublicKeySize];
        nuint length = (nuint)publicKey.Length;
        if (LibCrypto.EvpPkeyGetRawPublicKey(key, publicKey, ref length) != 1 || length != Ed25519.PublicKeySize)
        {
            key.Dispose();
            LibCrypto.ErrClearError();
            throw new CryptographicException("OpenSSL could not derive the Ed25519 public key");
        }

        return new Ed25519PrivateKey(key, publicKey);
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

        if (_contexts.Current() is { } reused)
        {
            nuint reusedLength = Ed25519.SignatureSize;
            if (LibCrypto.EvpDigestSign(reused, signature, ref reusedLength, message, (nuint)message.Length) == 1
                && reusedLength == Ed25519.SignatureSize)
            {
                return;
            }

            // This libcrypto does not allow a one-shot context to be reused: stop trying.
            LibCrypto.ErrClearError();
            _contexts.Disable();
        }

        using SafeEvpMdCtxHandle context = LibCrypto.EvpMdCtxNew();
        nuint length = Ed25519.SignatureSize;
        if (context.IsInvalid
            || LibCrypto.EvpDigestSignInit(context, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero, _key) != 1
            || LibCrypto.EvpDigestSign(context, signature, ref length, message, (nuint)message.Length) != 1
            || length != Ed25519.SignatureSize)
        {
            LibCrypto.ErrClearError();
            throw new CryptographicException("OpenSSL Ed25519 signing failed");
        }
    }

    public void Dispose()
    {
        _contexts.Dispose();
        _key.Dispose();
    }
}

/// <summary>An imported Ed25519 public key; reuse it to verify many signatures. Thread-safe.</summary>
internal sealed class Ed25519PublicKey : IDisposable
{
    private readonly SafeEvpPkeyHandle _key;
    private readonly ReusableContexts _contexts;

    private Ed25519PublicKey(SafeEvpPkeyHandle key)
    {
        _key = key;
        _contexts = new ReusableContexts(key, sign: false);
    }

    /// <summary>The key, or null when <paramref name="publicKey"/> is not 32 bytes or OpenSSL refuses it.</summary>
    public static Ed25519PublicKey? TryImport(ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != Ed25519.PublicKeySize)
        {
            return null;
        }

        SafeEvpPkeyHandle key = LibCrypto.EvpPkeyNewRawPublicKey(LibCrypto.EvpPkeyEd25519, IntPtr.Zero, publicKey, (nuint)publicKey.Length);
        if (key.IsInvalid)
        {
            key.Dispose();
            LibCrypto.ErrClearError();
            return null;
        }

        return new Ed25519PublicKey(key);
    }

    public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != Ed25519.SignatureSize)
        {
            return false;
        }

        if (_contexts.Current() is { } reused)
        {
            if (LibCrypto.EvpDigestVerify(reused, signature, (nuint)signature.Length, message, (nuint)message.Length) == 1)
            {
                return true;
            }

            // A bad signature, or a libcrypto that refuses to reuse the context: a fresh context
            // decides. Only the rare failure pays twice.
            LibCrypto.ErrClearError();
        }

        using SafeEvpMdCtxHandle context = LibCrypto.EvpMdCtxNew();
        if (context.IsInvalid || LibCrypto.EvpDigestVerifyInit(context, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero, _key) != 1)
        {
            LibCrypto.ErrClearError();
            return false;
        }

        int rc = LibCrypto.EvpDigestVerify(context, signature, (nuint)signature.Length, message, (nuint)message.Length);
        if (rc != 1)
        {
            LibCrypto.ErrClearError();
            return false;
        }

        return true;
    }

    public void Dispose()
    {
        _contexts.Dispose();
        _key.Dispose();
    }
}

/// <summary>
/// One initialised <c>EVP_MD_CTX</c> per thread per key. Initialising a context (provider fetch)
/// costs about as much as an Ed25519 verification in OpenSSL 3; a one-shot Ed25519 context can be
/// used again (openssl speed does the same), so each thread initialises once. If the library
/// refuses reuse, the callers fall back to a fresh context per operation.
/// </summary>
internal sealed class ReusableContexts : IDisposable
{
    private readonly SafeEvpPkeyHandle _key;
    private readonly bool _sign;
    private readonly ThreadLocal<SafeEvpMdCtxHandle?> _contexts;
    private volatile bool _disabled;

    public ReusableContexts(SafeEvpPkeyHandle key, bool sign)
    {
        _key = key;
        _sign = sign;
        _contexts = new ThreadLocal<SafeEvpMdCtxHandle?>(Create, trackAllValues: true);
    }

    public SafeEvpMdCtxHandle? Current() => _disabled ? null : _contexts.Value;

    public void Disable() => _disabled = true;

    public void Dispose()
    {
        foreach (SafeEvpMdCtxHandle? context in _contexts.Values)
        {
            context?.Dispose();
        }

        _contexts.Dispose();
    }

    private SafeEvpMdCtxHandle? Create()
    {
        SafeEvpMdCtxHandle context = LibCrypto.EvpMdCtxNew();
        int rc = context.IsInvalid
            ? 0
            : _sign
                ? LibCrypto.EvpDigestSignInit(context, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero, _key)
                : LibCrypto.EvpDigestVerifyInit(context, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero, _key);
        if (rc != 1)
        {
            LibCrypto.ErrClearError();
            context.Dispose();
            return null;
        }

        return context;
    }
}
