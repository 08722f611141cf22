using System.Runtime.InteropServices;

namespace Kheish.Core.Crypto;

/// <summary>
/// The OpenSSL 3 EVP calls Ed25519 needs. .NET has no Ed25519 and NSec is not reachable, but
/// libcrypto.so.3 is already loaded by .NET on Linux; <c>LibraryImport</c> keeps this AOT-clean.
/// </summary>
internal static partial class LibCrypto
{
    private const string Library = "libcrypto.so.3";

    /// <summary>NID_ED25519 / EVP_PKEY_ED25519.</summary>
    public const int EvpPkeyEd25519 = 1087;

    [LibraryImport(Library, EntryPoint = "EVP_PKEY_new_raw_private_key")]
    public static partial SafeEvpPkeyHandle EvpPkeyNewRawPrivateKey(int type, IntPtr engine, ReadOnlySpan<byte> key, nuint keyLength);

    [LibraryImport(Library, EntryPoint = "EVP_PKEY_new_raw_public_key")]
    public static partial SafeEvpPkeyHandle EvpPkeyNewRawPublicKey(int type, IntPtr engine, ReadOnlySpan<byte> key, nuint keyLength);

    [LibraryImport(Library, EntryPoint = "EVP_PKEY_get_raw_public_key")]
    public static partial int EvpPkeyGetRawPublicKey(SafeEvpPkeyHandle key, Span<byte> publicKey, ref nuint length);

    [LibraryImport(Library, EntryPoint = "EVP_PKEY_free")]
    public static partial void EvpPkeyFree(IntPtr key);

    [LibraryImport(Library, EntryPoint = "EVP_MD_CTX_new")]
    public static partial SafeEvpMdCtxHandle EvpMdCtxNew();

    [LibraryImport(Library, EntryPoint = "EVP_MD_CTX_free")]
    public static partial void EvpMdCtxFree(IntPtr context);

    [LibraryImport(Library, EntryPoint = "EVP_DigestSignInit")]
    public static partial int EvpDigestSignInit(SafeEvpMdCtxHandle context, IntPtr keyContext, IntPtr digest, IntPtr engine, SafeEvpPkeyHandle key);

    [LibraryImport(Library, EntryPoint = "EVP_DigestSign")]
    public static partial int EvpDigestSign(SafeEvpMdCtxHandle context, Span<byte> signature, ref nuint signatureLength, ReadOnlySpan<byte> message, nuint messageLength);

    [LibraryImport(Library, EntryPoint = "EVP_DigestVerifyInit")]
    public static partial int EvpDigestVerifyInit(SafeEvpMdCtxHandle context, IntPtr keyContext, IntPtr digest, IntPtr engine, SafeEvpPkeyHandle key);

    [LibraryImport(Library, EntryPoint = "EVP_DigestVerify")]
    public static partial int EvpDigestVerify(SafeEvpMdCtxHandle context, ReadOnlySpan<byte> signature, nuint signatureLength, ReadOnlySpan<byte> message, nuint messageLength);

    /// <summary>A failed call leaves entries on this thread's OpenSSL error queue; .NET's own
    /// crypto shim reads that queue, so every failure path clears it.</summary>
    [LibraryImport(Library, EntryPoint = "ERR_clear_error")]
    public static partial void ErrClearError();
}

/// <summary>An owned <c>EVP_PKEY*</c>.</summary>
internal sealed class SafeEvpPkeyHandle : SafeHandle
{
    public SafeEvpPkeyHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        LibCrypto.EvpPkeyFree(handle);
        return true;
    }
}

/// <summary>An owned <c>EVP_MD_CTX*</c>.</summary>
internal sealed class SafeEvpMdCtxHandle : SafeHandle
{
    public SafeEvpMdCtxHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        LibCrypto.EvpMdCtxFree(handle);
        return true;
    }
}
