using Kheish.Core.Crypto;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Secrets;

/// <summary>A temp state root, a master key in the environment, and the real binary.</summary>
internal sealed class SecretsHarness : IDisposable
{
    public SecretsHarness()
    {
        Env = new Dictionary<string, string?>
        {
            [MasterKey.ValueVariable] = Convert.ToBase64String(Key.Bytes),
        };
    }

    public TempDir Dir { get; } = new();

    public MasterKey Key { get; } = MasterKey.Generate();

    public Dictionary<string, string?> Env { get; }

    public StateRoot Root => new(Dir.StateRoot);

    public string SlotsFile => Root.SlotsFile;

    /// <summary>Runs <c>kheish-daemon secrets ARGS --state-root ROOT</c>.</summary>
    public Task<CliResult> Run(params string[] args) => RunWith(null, null, args);

    public Task<CliResult> RunWith(Dictionary<string, string?>? env, string? stdin, params string[] args) =>
        Support.Cli.RunAsync(["secrets", .. args, "--state-root", Dir.StateRoot], env ?? Env, stdin);

    public async Task SetOk(string id, string value, string provider = "openai")
    {
        var env = new Dictionary<string, string?>(Env) { ["SECRET_VALUE"] = value };
        CliResult r = await RunWith(env, null, "set", id, "--provider", provider, "--from-env", "SECRET_VALUE", "--offline");
        await Assert.That(r.ExitCode).IsEqualTo(0).Because(r.ToString());
    }

    public SlotStore LoadStore() => SlotStore.Load(Root, Key).Value;

    public byte[] SlotsBytes() => File.ReadAllBytes(SlotsFile);

    public void Dispose() => Dir.Dispose();
}
