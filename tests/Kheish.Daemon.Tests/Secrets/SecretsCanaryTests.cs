using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Secrets;

/// <summary>A canary secret stored through every source never shows in any output or file but the encrypted store.</summary>
public sealed class SecretsCanaryTests
{
    [Test]
    [Arguments("env")]
    [Arguments("file")]
    [Arguments("stdin")]
    [Arguments("value")]
    public async Task A_canary_never_appears_in_any_output_or_file(string source)
    {
        using var h = new SecretsHarness();
        string canary = Canary.New(source);
        string secretFile = Path.Combine(Path.GetTempPath(), $"kheish-canary-{Guid.NewGuid():N}.txt");
        File.WriteAllText(secretFile, canary + "\n");
        var env = new Dictionary<string, string?>(h.Env) { ["CANARY_VALUE"] = canary };
        string[] sourceArgs = source switch
        {
            "env" => ["--from-env", "CANARY_VALUE"],
            "file" => ["--from-file", secretFile],
            "stdin" => ["--stdin"],
            _ => ["--value", canary],
        };
        var results = new List<CliResult>();

        try
        {
            foreach (string output in new[] { "pretty", "json" })
            {
                results.Add(await h.RunWith(env, canary + "\n", ["set", "canary", "--provider", "generic", "--offline", "--output", output, .. sourceArgs]));
                results.Add(await h.RunWith(env, canary + "\n", ["set", "canary", "--provider", "openai", "--offline", "--output", output, .. sourceArgs]));
                results.Add(await h.RunWith(env, canary, ["set", "canary", "--provider", "generic", "--offline", "--output", output, "--stdin", "--from-env", "CANARY_VALUE"]));
                results.Add(await h.Run("list", "--offline", "--output", output));
                results.Add(await h.Run("get", "canary", "--offline", "--output", output));
                results.Add(await h.Run("list", "--output", output));
                results.Add(await h.RunWith(new(h.Env) { [Core.Crypto.MasterKey.ValueVariable] = Convert.ToBase64String(Core.Crypto.MasterKey.Generate().Bytes) }, null, "get", "canary", "--offline", "--output", output));
            }

            results.Add(await h.Run("delete", "canary", "--offline", "--output", "json"));
        }
        finally
        {
            File.Delete(secretFile);
        }

        await Assert.That(results).Contains(r => r.ExitCode == 0);
        foreach (CliResult r in results)
        {
            Canary.AssertAbsent(canary, r.Stdout, "stdout");
            Canary.AssertAbsent(canary, r.Stderr, "stderr");
        }

        Canary.AssertAbsentFromFiles(canary, h.Dir, "global-slots.json");
    }
}
