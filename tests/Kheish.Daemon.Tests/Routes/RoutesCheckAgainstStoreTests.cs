using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Routes;

/// <summary><c>routes check --offline</c> resolving auth_refs against a real encrypted store.</summary>
public sealed class RoutesCheckAgainstStoreTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly Dictionary<string, string?> _env = new()
    {
        ["KHEISH_AUTH_STORE_MASTER_KEY"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
    };

    private async Task<CliResult> CheckAsync(string toml)
    {
        string file = _dir.File("routes.toml");
        await File.WriteAllTextAsync(file, toml);
        return await Support.Cli.RunAsync(["routes", "check", "--routes-file", file, "--state-root", _dir.StateRoot, "--offline"], _env);
    }

    private async Task StoreAsync(string slot, string provider)
    {
        CliResult r = await Support.Cli.RunAsync(
            ["secrets", "set", slot, "--provider", provider, "--stdin", "--offline", "--state-root", _dir.StateRoot], _env, stdin: "value-123456");
        await Assert.That(r.ExitCode == 0).IsTrue();
    }

    [Test]
    public async Task An_auth_ref_to_a_slot_of_another_provider_exits_2()
    {
        await StoreAsync("claude.main", "anthropic");

        CliResult r = await CheckAsync("version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"claude.main\"\n");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("route `a`");
    }

    [Test]
    public async Task An_auth_ref_to_a_matching_slot_passes()
    {
        await StoreAsync("openai.prod", "openai");

        CliResult r = await CheckAsync("version = 1\n[routes.a]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"openai.prod\"\n");

        await Assert.That(r.ExitCode == 0).IsTrue();
        await Assert.That(r.Stdout).Contains("openai.prod");
    }

    [Test]
    public async Task A_missing_auth_ref_names_route_and_slot()
    {
        CliResult r = await CheckAsync("version = 1\n[routes.openai]\ndriver = \"openai\"\ndefault_model = \"m\"\nauth_ref = \"openai.prod\"\n");

        await Assert.That(r.ExitCode).IsEqualTo(2);
        await Assert.That(r.Stderr).Contains("route `openai` references missing auth_ref `openai.prod`");
    }

    public void Dispose() => _dir.Dispose();
}
