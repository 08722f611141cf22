using System.Diagnostics;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Cli;

/// <summary>
/// The published binary is one file: copied alone into an empty directory it still signs with
/// NSec, loading the libsodium embedded in it, and writes nothing beside itself (issue 11).
/// </summary>
public sealed class BinaryAloneTests : IDisposable
{
    // RFC 8032 section 7.1, TEST 1.
    private const string Rfc8032Seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    private const string Rfc8032PublicKey = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    private readonly TempDir _dir = new();
    private readonly string _binDir;
    private readonly string _binary;

    public BinaryAloneTests()
    {
        _binDir = _dir.File("bin");
        Directory.CreateDirectory(_binDir);
        _binary = Path.Combine(_binDir, "kheish-daemon");
        File.Copy(DaemonBinary.Path, _binary);
        File.SetUnixFileMode(_binary, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public void Dispose() => _dir.Dispose();

    [Test]
    public async Task Version_names_nsec_and_the_embedded_libsodium_1_0_22()
    {
        CliResult r = await RunAloneAsync(["--version"]);

        await Assert.That(r.ExitCode == 0).IsTrue().Because(r.ToString());
        await Assert.That(r.Stdout).Matches(@"(?m)^ed25519: NSec\.Cryptography 26\.4\.0, libsodium 1\.0\.22 \(embedded\)$");
    }

    [Test]
    public async Task Alone_in_an_empty_directory_it_derives_the_rfc8032_public_key()
    {
        CliResult r = await RunAloneAsync(
            ["--state-root", _dir.StateRoot, "audit", "public-key"],
            new Dictionary<string, string?> { ["KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY"] = Rfc8032Seed });

        await Assert.That(r.ExitCode == 0).IsTrue().Because(r.ToString());
        await Assert.That(r.Stdout.Trim()).IsEqualTo(Rfc8032PublicKey);
        await Assert.That(Directory.GetFileSystemEntries(_binDir)).IsEquivalentTo([_binary], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Alone_in_an_empty_directory_it_signs_a_fresh_ledger_that_verifies()
    {
        CliResult stress = await RunAloneAsync(["--state-root", _dir.StateRoot, "audit", "stress", "--count", "5", "--producers", "2", "--run", "alone"]);
        await Assert.That(stress.ExitCode == 0).IsTrue().Because(stress.ToString());
        await Assert.That(stress.Stdout.Split('\n').Count(l => l.StartsWith("ack ", StringComparison.Ordinal))).IsEqualTo(5);

        CliResult key = await RunAloneAsync(["--state-root", _dir.StateRoot, "audit", "public-key"]);
        await Assert.That(key.ExitCode == 0).IsTrue().Because(key.ToString());
        CliResult verify = await RunAloneAsync(["--state-root", _dir.StateRoot, "runs", "verify", "--all", "--public-key", key.Stdout.Trim()]);

        await Assert.That(verify.ExitCode == 0).IsTrue().Because(verify.ToString());
        await Assert.That(verify.Stdout).StartsWith($"OK: 1 bucket(s), 5 record(s) verified; signed by pinned key {key.Stdout.Trim()}");
        await Assert.That(Directory.GetFileSystemEntries(_binDir)).IsEquivalentTo([_binary], CollectionOrdering.Matching);
    }

    [Test]
    public async Task A_libsodium_beside_the_binary_or_on_LD_LIBRARY_PATH_is_never_loaded()
    {
        // A file that is no ELF at all: if the binary dlopen()ed it, signing would fail.
        string decoys = _dir.File("decoys");
        Directory.CreateDirectory(decoys);
        foreach (string dir in new[] { _binDir, decoys })
        {
            foreach (string name in new[] { "libsodium.so", "libsodium.so.26", "libsodium.so.23" })
            {
                await File.WriteAllTextAsync(Path.Combine(dir, name), "not a shared library");
            }
        }

        CliResult r = await RunAloneAsync(
            ["--state-root", _dir.StateRoot, "audit", "public-key"],
            new Dictionary<string, string?>
            {
                ["KHEISH_EXTERNAL_ACTION_AUDIT_SIGNING_KEY"] = Rfc8032Seed,
                ["LD_LIBRARY_PATH"] = decoys,
            });

        await Assert.That(r.ExitCode == 0).IsTrue().Because(r.ToString());
        await Assert.That(r.Stdout.Trim()).IsEqualTo(Rfc8032PublicKey);
    }

    /// <summary>Runs the copied binary with the empty directory as its working directory.</summary>
    private async Task<CliResult> RunAloneAsync(string[] args, Dictionary<string, string?>? env = null)
    {
        ProcessStartInfo psi = Support.Cli.StartInfo(args, env, workingDirectory: _binDir);
        psi.FileName = _binary;
        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}
