using System.Diagnostics;
using Kheish.Core.Secrets;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Secrets;

/// <summary>
/// A loop of real <c>secrets set</c> processes SIGKILLed at random moments: after every kill the
/// store decodes, and to a complete state (the one before that set, or the one after).
/// </summary>
public sealed class SecretsCrashSafetyTests()
{
    private const int Kills = 30;

    [Test]
    public async Task Sigkill_during_set_always_leaves_a_complete_earlier_or_later_store()
    {
        using var h = new SecretsHarness();
        for (int i = 0; i < 20; i++)
        {
            await h.SetOk($"seed-{i}", $"seed-value-{i}");
        }

        var sw = Stopwatch.StartNew();
        await h.SetOk("timing", "timing-value");
        int runMs = Math.Max(5, (int)sw.ElapsedMilliseconds);
        var expected = h.LoadStore().List().ToDictionary(r => r.SlotId.Value, r => r.SecretValue());
        int before = 0, after = 0;

        for (int i = 0; i < Kills; i++)
        {
            string id = $"slot-{i}";
            string value = $"value-{i}-{Guid.NewGuid():N}";
            var env = new Dictionary<string, string?>(h.Env) { ["V"] = value };
            using var process = Process.Start(Support.Cli.StartInfo(
                ["secrets", "set", id, "--provider", "openai", "--from-env", "V", "--offline", "--state-root", h.Dir.StateRoot], env))!;
            await Task.Delay(Random.Shared.Next(0, runMs * 3 / 2));
            try
            {
                process.Kill();
            }
            catch (InvalidOperationException)
            {
                // Already exited: a kill after completion is one of the moments too.
            }

            await process.WaitForExitAsync();

            var store = SlotStore.Load(h.Root, h.Key);
            await Assert.That(store.IsOk).IsTrue().Because($"kill {i}: store does not decode: {store.Error?.Message}");
            var actual = store.Value.List().ToDictionary(r => r.SlotId.Value, r => r.SecretValue());
            if (actual.ContainsKey(id))
            {
                expected[id] = value;
                after++;
            }
            else
            {
                before++;
            }

            await Assert.That(actual.OrderBy(p => p.Key)).IsEquivalentTo(expected.OrderBy(p => p.Key), CollectionOrdering.Matching);
        }

        Console.WriteLine($"{Kills} kills (run ~{runMs} ms): {before} left the earlier state, {after} the later one");
    }
}
