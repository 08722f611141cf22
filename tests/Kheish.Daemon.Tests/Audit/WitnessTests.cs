using System.Net;
using System.Text;
using Kheish.Core.Storage;
using Kheish.Core.Transparency;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Audit;

/// <summary>
/// <c>witness serve</c> through the real binary: it cosigns the log's checkpoints (C2SP tlog-witness
/// add-checkpoint, tlog-cosignature v1) while the log grows, and refuses to cosign once the log's
/// state root is restored from a backup and appended to (the rollback scenario).
/// </summary>
public sealed class WitnessTests : IDisposable
{
    private readonly TempDir _log = new();
    private readonly TempDir _witness = new();

    public void Dispose()
    {
        _log.Dispose();
        _witness.Dispose();
    }

    [Test]
    public async Task The_witness_cosigns_growth_and_refuses_a_restored_backup_that_was_appended_to()
    {
        await Log("audit", "stress", "--count", "20", "--producers", "2", "--run", "r");
        string logKey = (await Log("audit", "public-key")).Stdout.Trim();
        CliResult pk = await Support.Cli.RunAsync(["--state-root", _witness.StateRoot, "witness", "public-key", "--name", "witness.test/w1"]);
        await Assert.That(pk.ExitCode).IsEqualTo(0);
        byte[] witnessKey = Convert.FromHexString(pk.Stdout.Split('\n')[0]);
        await Assert.That(pk.Stdout).Contains("witness.test/w1+");

        (string origin, string note20, MerkleTree tree20) = Current(logKey);
        await using DaemonProcess witness = await DaemonProcess.StartWitnessAsync(_witness.StateRoot, ["--name", "witness.test/w1", "--log", $"{origin}={logKey}"]);
        using var http = new HttpClient { BaseAddress = witness.BaseUri, Timeout = TimeSpan.FromSeconds(60) };

        // Unknown origin → 404; a first checkpoint (old 0) → a cosignature that verifies.
        (HttpStatusCode unknown, _) = await Post(http, Witness.Request(0, [], note20.Replace(origin, "other.test/log", StringComparison.Ordinal)));
        await Assert.That(unknown).IsEqualTo(HttpStatusCode.NotFound);
        (HttpStatusCode first, string cosig) = await Post(http, Witness.Request(0, [], note20));
        await Assert.That(first).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(Verifies(note20, cosig, witnessKey)).IsTrue();

        string backup = Path.Combine(_log.Path, "backup");
        TempDir.CopyTree(_log.StateRoot, backup);
        await Log("audit", "stress", "--count", "100", "--producers", "4", "--run", "r");
        (_, string note120, MerkleTree tree120) = Current(logKey);
        await Assert.That(tree120.Size).IsEqualTo(120L);
        (HttpStatusCode grown, string cosig120) = await Post(http, Witness.Request(20, tree120.ConsistencyProof(20, 120), note120));
        await Assert.That(grown).IsEqualTo(HttpStatusCode.OK);
        await Assert.That(Verifies(note120, cosig120, witnessKey)).IsTrue();

        // Roll back: restore the backup (size 20), append 100 other records (size 120, another root).
        Directory.Delete(_log.StateRoot, recursive: true);
        TempDir.CopyTree(backup, _log.StateRoot);
        await Log("audit", "stress", "--count", "100", "--producers", "4", "--run", "r");
        (_, string forkNote, MerkleTree fork) = Current(logKey);
        await Assert.That(fork.Size).IsEqualTo(120L);

        // The restored log only knows the witness saw 20: the witness names its size instead...
        (HttpStatusCode stale, string size) = await Post(http, Witness.Request(20, fork.ConsistencyProof(20, 120), forkNote));
        await Assert.That(stale).IsEqualTo(HttpStatusCode.Conflict);
        await Assert.That(size).IsEqualTo("120\n");
        // ...and retrying from that size fails: same size, another root.
        (HttpStatusCode retried, string why) = await Post(http, Witness.Request(120, [], forkNote));
        await Assert.That(retried).IsEqualTo(HttpStatusCode.Conflict);
        await Assert.That(why).Contains("fork");
        await Assert.That(why).DoesNotContain("\u2014");

        // The witness's durable state still holds the honest checkpoint, across a restart.
        await witness.StopAsync();
        await using DaemonProcess again = await DaemonProcess.StartWitnessAsync(_witness.StateRoot, ["--name", "witness.test/w1", "--log", $"{origin}={logKey}"]);
        using var http2 = new HttpClient { BaseAddress = again.BaseUri, Timeout = TimeSpan.FromSeconds(60) };
        (HttpStatusCode afterRestart, _) = await Post(http2, Witness.Request(120, [], forkNote));
        await Assert.That(afterRestart).IsEqualTo(HttpStatusCode.Conflict);
        (HttpStatusCode honest, string honestCosig) = await Post(http2, Witness.Request(120, [], note120));
        await Assert.That(honest).IsEqualTo(HttpStatusCode.OK);

        // The witness's private seed stays in its 0600 key file: in no output and no answer.
        string keyFile = Witness.KeyFile(_witness.StateRoot);
        await Assert.That(File.GetUnixFileMode(keyFile)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        byte[] seed = File.ReadAllBytes(keyFile);
        string everything = pk.All + witness.Logs + again.Logs + cosig + cosig120 + why + honestCosig;
        await Assert.That(everything).DoesNotContain(Convert.ToHexStringLower(seed));
        await Assert.That(everything).DoesNotContain(Convert.ToHexString(seed));
        await Assert.That(everything).DoesNotContain(Convert.ToBase64String(seed));
    }

    [Test]
    public async Task Serve_refuses_a_malformed_log_option_naming_it()
    {
        CliResult r = await Support.Cli.RunAsync(["--state-root", _witness.StateRoot, "witness", "serve", "--bind", "127.0.0.1:0", "--log", "example.test/log=nothex"]);

        await Assert.That(r.ExitCode).IsNotEqualTo(0);
        await Assert.That(r.Stderr).Contains("--log 'example.test/log=nothex' is not <origin>=<64 hex characters");
    }

    private Task<CliResult> Log(params string[] args) => Support.Cli.RunAsync(["--state-root", _log.StateRoot, .. args]);

    /// <summary>The log's current checkpoint note and its Merkle tree, read from the state root as a log would.</summary>
    private (string Origin, string Note, MerkleTree Tree) Current(string logKeyHex)
    {
        string note = File.ReadAllText(Path.Combine(_log.StateRoot, "external-action-log", "checkpoint"));
        LogState state = LogState.Load(new StateRoot(_log.StateRoot), Convert.FromHexString(logKeyHex));
        if (state.Problem is { } problem)
        {
            throw new InvalidOperationException(problem);
        }

        return (note[..note.IndexOf('\n', StringComparison.Ordinal)], note, state.Tree);
    }

    private static async Task<(HttpStatusCode, string)> Post(HttpClient http, string body)
    {
        using HttpResponseMessage r = await http.PostAsync("/add-checkpoint", new StringContent(body, Encoding.UTF8, "text/plain"));
        return (r.StatusCode, await r.Content.ReadAsStringAsync());
    }

    private static bool Verifies(string note, string cosignature, byte[] witnessKey)
    {
        var parsed = SignedNote.TryParse(Encoding.UTF8.GetBytes(note + cosignature), out _);
        return parsed is { } p && Cosignature.Verify(p.Text, p.Signatures, "witness.test/w1", witnessKey) is not null;
    }
}
