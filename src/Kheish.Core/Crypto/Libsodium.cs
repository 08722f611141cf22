using System.Reflection;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Kheish.Core.Crypto;

/// <summary>
/// Loads the libsodium 1.0.22 that NSec requires from a copy embedded in this assembly, so the
/// daemon stays one file and never depends on the system's libsodium (Debian's is 1.0.18, which
/// NSec refuses). The library is written into an anonymous memory file (<c>memfd_create</c>),
/// sealed, and loaded from <c>/proc/self/fd/N</c>: nothing is written to disk. Every path into
/// NSec (<see cref="Ed25519PrivateKey"/>, <see cref="Ed25519PublicKey"/>) calls
/// <see cref="EnsureLoaded"/> first; the daemon also calls it at start-up to fail early.
/// </summary>
internal static unsafe partial class Libsodium
{
    private const string ResourceName = "Kheish.Core.Crypto.libsodium.so";
    private const string LibraryName = "libsodium";
    private const uint MfdCloexec = 0x0001;
    private const uint MfdAllowSealing = 0x0002;
    private const int FAddSeals = 1033;
    private const int FSealSeal = 0x0001;
    private const int FSealShrink = 0x0002;
    private const int FSealGrow = 0x0004;
    private const int FSealWrite = 0x0008;

    private static readonly Lock Gate = new();
    private static IntPtr s_handle;
    private static string? s_version;
    private static string? s_backend;

    /// <summary>The loaded library's <c>sodium_version_string()</c>, e.g. "1.0.22".</summary>
    public static string Version
    {
        get
        {
            EnsureLoaded();
            return s_version!;
        }
    }

    /// <summary>
    /// "NSec.Cryptography 26.4.0, libsodium 1.0.22 (embedded)": for --version and /v1/status.
    /// Built once: reading the assembly attribute goes through native AOT's reflection metadata,
    /// and <c>/v1/status</c> reads this on every request (perf: ~25% of the daemon's CPU under load).
    /// </summary>
    public static string Ed25519Backend =>
        s_backend ??= $"NSec.Cryptography {NSecVersion}, libsodium {Version} (embedded)";

    private static string NSecVersion
    {
        get
        {
            string? v = typeof(NSec.Cryptography.Key).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
            // Strip a "+commit" suffix: the package version is what a reader compares.
            return v is null ? "unknown" : v.Split('+')[0];
        }
    }

    /// <summary>
    /// Loads the embedded library once and points NSec's <c>DllImport("libsodium")</c> at it.
    /// Throws <see cref="DllNotFoundException"/> when the library cannot be loaded; callers do not
    /// catch it, so a daemon without its signing backend does not start.
    /// </summary>
    public static void EnsureLoaded()
    {
        if (Volatile.Read(ref s_handle) != IntPtr.Zero)
        {
            return;
        }

        lock (Gate)
        {
            if (s_handle != IntPtr.Zero)
            {
                return;
            }

            IntPtr handle = LoadFromMemory();
            var versionString = (delegate* unmanaged<byte*>)NativeLibrary.GetExport(handle, "sodium_version_string");
            s_version = Marshal.PtrToStringUTF8((IntPtr)versionString()) ?? "unknown";
            // Registered before the handle is published: no caller reaches NSec before this resolver.
            NativeLibrary.SetDllImportResolver(
                typeof(NSec.Cryptography.Key).Assembly,
                (name, _, _) => name == LibraryName ? handle : IntPtr.Zero);
            Volatile.Write(ref s_handle, handle);
        }
    }

    private static IntPtr LoadFromMemory()
    {
        byte[] image = ReadResource();
        int fd = MemfdCreate(LibraryName, MfdCloexec | MfdAllowSealing);
        if (fd < 0)
        {
            throw new DllNotFoundException($"libsodium: memfd_create failed (errno {Marshal.GetLastPInvokeError()})");
        }

        using var file = new SafeFileHandle((IntPtr)fd, ownsHandle: true);
        RandomAccess.Write(file, image, 0);
        // No write, resize or further seal after this: the mapped code cannot be changed through the fd.
        if (Fcntl(fd, FAddSeals, FSealSeal | FSealShrink | FSealGrow | FSealWrite) != 0)
        {
            throw new DllNotFoundException($"libsodium: sealing the memfd failed (errno {Marshal.GetLastPInvokeError()})");
        }

        // dlopen maps the file; the mapping outlives the descriptor, which is closed on return.
        return NativeLibrary.Load($"/proc/self/fd/{fd}");
    }

    private static byte[] ReadResource()
    {
        using Stream stream = typeof(Libsodium).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new DllNotFoundException($"libsodium: the embedded resource {ResourceName} is missing from this build");
        byte[] image = new byte[stream.Length];
        stream.ReadExactly(image);
        return image;
    }

    [LibraryImport("libc", EntryPoint = "memfd_create", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int MemfdCreate(string name, uint flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);
}
