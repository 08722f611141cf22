using System.Diagnostics;
using System.Text.Json;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Audit;

/// <summary>
/// kill -9 in the middle of a storm of appends from several threads: every append the process
/// acknowledged (printed by the hidden 'audit stress' verb only after it is durable) is still in
/// the ledger, the ledger verifies, and a restarted writer continues the chain.
/// </summary>
public sealed class LedgerCrashTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Test]
    public async Task Kill_9_during_an_append_storm_loses_no_acknowledged_record()
    {
        var acked = new HashSet<string>(StringComparer.Ordinal);
        string keptCheckpoint = _dir.File("checkpoint-after-first-kill");
        for (int round = 0; round < 3; round++)
        {
            acked.UnionWith(await StormAndKillAsync(killAfter: 300 + (round * 1000)));
            if (round == 0)
            {
                File.Copy(Path.Combine(_dir.StateRoot, "external-action-log", "checkpoint"), keptCheckpoint);
            }
        }

        CliResult key = await Run("audit", "public-key");
        CliResult verified = await Run("runs", "verify", "--all", "--public-key", key.Stdout.Trim());
        await Assert.That(verified.ExitCode == 0).IsTrue();

        CliResult restarted = await Run("audit", "stress", "--count", "20", "--producers", "4", "--run", "crash");
        await Assert.That(restarted.ExitCode == 0).IsTrue();
        CliResult verifiedAgain = await Run("runs", "verify", "--all", "--public-key", key.Stdout.Trim());
        await Assert.That(verifiedAgain.ExitCode == 0).IsTrue();

        // The transparency log survived the kills: it extends the checkpoint published before the
        // first one, and after the clean shutdown its checkpoint covers every record of every bucket.
        CliResult since = await Run("runs", "verify", "--all", "--since-checkpoint", keptCheckpoint);
        await Assert.That(since.ExitCode).IsEqualTo(0).Because(since.ToString());
        long records = Directory.EnumerateFiles(Path.Combine(_dir.StateRoot, "external-actions"), "*.jsonl").Sum(f => File.ReadAllLines(f).Length);
        string[] checkpoint = File.ReadAllLines(Path.Combine(_dir.StateRoot, "external-action-log", "checkpoint"));
        await Assert.That(long.Parse(checkpoint[1], System.Globalization.CultureInfo.InvariantCulture)).IsEqualTo(records);

        CliResult listed = await Run("-o", "json", "runs", "external-actions", "crash", "--offline");
        await Assert.That(listed.ExitCode).IsEqualTo(0);
        using JsonDocument doc = JsonDocument.Parse(listed.Stdout);
        var present = doc.RootElement.GetProperty("external_actions").EnumerateArray()
            .Select(r => r.GetProperty("action_id").GetString()!)
            .ToHashSet(StringComparer.Ordinal);
        await Assert.That(acked.Count >= 3900).IsTrue().Because($"only {acked.Count} acknowledgements observed");
        await Assert.That(acked.Except(present)).IsEmpty();
    }

    private Task<CliResult> Run(params string[] args) => Support.Cli.RunAsync(["--state-root", _dir.StateRoot, .. args]);

    private async Task<List<string>> StormAndKillAsync(int killAfter)
    {
        using var process = Process.Start(Support.Cli.StartInfo(
            ["--state-root", _dir.StateRoot, "audit", "stress", "--count", "10000000", "--producers", "8", "--run", "crash"]))!;
        process.StandardInput.Close();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        var acked = new List<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (acked.Count < killAfter)
        {
            string? line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            if (line is null)
            {
                Assert.Fail($"stress exited early ({await stderr})");
            }

            if (line!.StartsWith("ack ", StringComparison.Ordinal))
            {
                acked.Add(line[4..]);
            }
        }

        process.Kill(); // SIGKILL: no shutdown, no final checkpoint, possibly a torn write.
        await process.WaitForExitAsync(timeout.Token);
        // Lines already in the pipe were acknowledged before the kill.
        string rest = await process.StandardOutput.ReadToEndAsync(timeout.Token);
        acked.AddRange(rest.Split('\n').Where(l => l.StartsWith("ack ", StringComparison.Ordinal) && l.Length == 68).Select(l => l[4..]));
        return acked;
    }
}
