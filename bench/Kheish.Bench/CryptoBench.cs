using System.Diagnostics;
using System.Globalization;
using Kheish.Core.Crypto;

namespace Kheish.Bench;

internal static class CryptoBench
{
    /// <summary>Our Ed25519 (NSec over the embedded libsodium), one thread: sign/s and verify/s, comparable to openssl speed.</summary>
    public static int Run(TimeSpan duration)
    {
        using var key = Ed25519PrivateKey.Generate();
        using var publicKey = Ed25519PublicKey.TryImport(key.PublicKey)!;
        byte[] message = new byte[32];
        byte[] signature = key.Sign(message);
        Console.WriteLine($"ed25519_backend {Libsodium.Ed25519Backend}");
        long n = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < duration)
        {
            key.Sign(message, signature);
            n++;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ed25519_sign rate={n / sw.Elapsed.TotalSeconds:F1}"));
        n = 0;
        sw.Restart();
        while (sw.Elapsed < duration)
        {
            if (!publicKey.Verify(message, signature))
            {
                throw new InvalidOperationException("verify failed");
            }

            n++;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ed25519_verify rate={n / sw.Elapsed.TotalSeconds:F1}"));
        return 0;
    }
}
