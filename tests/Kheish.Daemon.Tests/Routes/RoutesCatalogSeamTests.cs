using Kheish.Core.Routes;
using Kheish.Daemon.Cli;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Routes;

/// <summary>
/// The catalog seam (<see cref="RoutesCommand.CatalogFactory"/>) driven in-process with a fake
/// secret store. Tests here run one at a time (one class) because the seam is static.
/// </summary>
public sealed class RoutesCatalogSeamTests
{
    private sealed class FakeCatalog(Dictionary<string, string> slots) : IAuthRefCatalog
    {
        public string? UnavailableReason => null;

        public string? ProviderOf(string slotId) => slots.GetValueOrDefault(slotId);
    }

    private static async Task<int> RunWithCatalogAsync(string toml, Dictionary<string, string> slots)
    {
        using var dir = new TempDir();
        string file = dir.File("routes.toml");
        await File.WriteAllTextAsync(file, toml);
        var previous = RoutesCommand.CatalogFactory;
        RoutesCommand.CatalogFactory = (_, _) => new FakeCatalog(slots);
        try
        {
            return await KheishCli.RunAsync(["routes", "check", "--routes-file", file, "--state-root", dir.StateRoot, "--offline"]);
        }
        finally
        {
            RoutesCommand.CatalogFactory = previous;
        }
    }

    [Fact]
    public async Task An_auth_ref_to_a_slot_of_another_provider_exits_2()
    {
        int exit = await RunWithCatalogAsync(
            "version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"claude.main\"\n",
            new() { ["claude.main"] = "anthropic" });

        Assert.Equal(2, exit);
    }

    [Fact]
    public async Task An_auth_ref_to_a_matching_slot_passes()
    {
        int exit = await RunWithCatalogAsync(
            "version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"openai.prod\"\n",
            new() { ["openai.prod"] = "openai" });

        Assert.Equal(0, exit);
    }
}
