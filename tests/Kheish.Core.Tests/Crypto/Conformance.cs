namespace Kheish.Core.Tests.Crypto;

/// <summary>Where the external conformance data lives: $KHEISH_CONFORMANCE_DIR, else ../shared/conformance beside the repo.</summary>
internal static class Conformance
{
    public static string Directory { get; } = Locate();

    private static string Locate()
    {
        if (Environment.GetEnvironmentVariable("KHEISH_CONFORMANCE_DIR") is { Length: > 0 } env)
        {
            return env;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Kheish.sln")))
            {
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "conformance"));
            }
        }

        return "/work/shared/conformance";
    }
}
