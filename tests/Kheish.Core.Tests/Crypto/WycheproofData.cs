using System.Text.Json;

namespace Kheish.Core.Tests.Crypto;

/// <summary>
/// Locates a Wycheproof vector file in $KHEISH_CONFORMANCE_DIR (default ../shared/conformance
/// beside the repository). Tests skip, with the reason, when it is absent.
/// </summary>
internal static class WycheproofData
{
    public static JsonDocument LoadOrSkip(string fileName)
    {
        string dir = Environment.GetEnvironmentVariable("KHEISH_CONFORMANCE_DIR") is { Length: > 0 } env
            ? env
            : Path.Combine(RepoRoot(), "..", "shared", "conformance");
        string path = Path.Combine(dir, "wycheproof", fileName);
        if (!File.Exists(path))
        {
            Skip.Test($"conformance data not found at {path} (set KHEISH_CONFORMANCE_DIR)");
        }

        return JsonDocument.Parse(File.ReadAllBytes(path));
    }

    public static byte[] Hex(JsonElement element, string name) => Convert.FromHexString(element.GetProperty(name).GetString()!);

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Kheish.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("no Kheish.sln above " + AppContext.BaseDirectory);
    }
}
