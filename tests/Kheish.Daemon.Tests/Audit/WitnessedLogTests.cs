using System.Net;
using System.Text;
using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Core.Transparency;
using Kheish.Daemon.Tests.Support;

namespace Kheish.Daemon.Tests.Audit;

/// <summary>
/// <c>serve --witness</c> against a real <c>witness serve</c> process: checkpoints are pushed and
/// cosigned in the background, the cosignature travels in the receipt and verifies offline with
/// <c>audit verify-proof --witness-key</c>; a wrong pinned key, a restored backup and a stopped
/// witness under <c>--witness-quorum</c> are each refused and show in <c>GET /v1/runtime</c>.
/// </summary>
public sealed class WitnessedLogTests : IDisposable
{
    private const string WitnessName = "witness.test/w1";
    private readonly TempDir _log = new();
    private readonly TempDir _witness = new();
    private readonly string _admin = "adm-" + Guid.NewGuid().ToString("N");
    private readonly List<string> _seen = [];

    public void Dispose()
    {
        _log.Dispose();
        _witness.Dispose();
    }

    [Test]
    public async Task Records_are_cosigned_in_the_background_and_the_receipt_verifies_offline_with_the_witness_key()
    {
        (string origin, string logKey, string witnessKey) = await PrepareAsync();
        await using DaemonProcess witness = await StartWitnessAsync(origin, logKey);
        await using DaemonProcess daemon = await StartLogAsync([$"--witness", $"{witness.BaseUri}={witnessKey}"]);
        using HttpClient admin = daemon.Client(_admin);

        string actionId = await ProbeAsync(admin);
        string receipt = await UntilAsync(async () =>
        {
            using HttpResponseMessage r = await admin.GetAsync($"/v1/audit/proof/{actionId}");
            string body = await r.Content.ReadAsStringAsync();
            return r.StatusCode == HttpStatusCode.OK && body.Contains($"\u2014 {WitnessName} ", StringComparison.Ordinal) ? body : null;
        }, "a receipt carrying the witness cosignature");
        string checkpoint = await UntilAsync(async () =>
        {
            string body = await admin.GetStringAsync("/v1/audit/checkpoint");
            return body.Contains($"\u2014 {WitnessName} ", StringComparison.Ordinal) ? body : null;
        }, "the served checkpoint carrying the cosignature");
        JsonElement state = (await RuntimeWitnessesAsync(admin))[0];
        var online = new Dictionary<string, string?> { ["KHEISH_DAEMON_URL"] = daemon.BaseUri.ToString(), ["KHEISH_DAEMON_TOKEN"] = _admin };
        CliResult prove = await Support.Cli.RunAsync(["runs", "prove", actionId], online);
        CliResult runtime = await Support.Cli.RunAsync(["runtime", "get"], online);
        await daemon.StopAsync();

        await Assert.That(checkpoint).StartsWith(origin + "\n");
        await Assert.That(state.GetProperty("url").GetString()).IsEqualTo(witness.BaseUri.ToString());
        await Assert.That(state.GetProperty("public_key").GetString()).IsEqualTo(witnessKey);
        await Assert.That(state.GetProperty("key_name").GetString()).IsEqualTo(WitnessName);
        await Assert.That(state.GetProperty("cosigned_size").GetInt64()).IsGreaterThanOrEqualTo(3L);
        await Assert.That(state.TryGetProperty("last_error", out _)).IsFalse();
        await Assert.That(prove.ExitCode).IsEqualTo(0).Because(prove.ToString());
        await Assert.That(prove.Stdout).Contains($"\u2014 {WitnessName} ");
        await Assert.That(runtime.Stdout).Contains($"witnesses (quorum 0, 0 quorum failure(s)):\n  {witness.BaseUri} {WitnessName} cosigned size ");

        // Offline: the receipt alone, the log key and the witness key.
        string file = _log.File("receipt.tlog-proof");
        File.WriteAllText(file, receipt);
        CliResult named = await Support.Cli.RunAsync(["audit", "verify-proof", file, "--public-key", logKey, "--witness-key", $"{WitnessName}={witnessKey}"]);
        CliResult keyOnly = await Support.Cli.RunAsync(["audit", "verify-proof", file, "--public-key", logKey, "--witness-key", witnessKey, "-o", "json"]);
        string otherKey = OtherKey();
        CliResult wrong = await Support.Cli.RunAsync(["audit", "verify-proof", file, "--public-key", logKey, "--witness-key", $"{WitnessName}={otherKey}", "--witness-quorum", "1"]);
        File.WriteAllText(file, receipt.Replace($"\u2014 {WitnessName} ", $"\u2014 {WitnessName} A", StringComparison.Ordinal));
        CliResult tampered = await Support.Cli.RunAsync(["audit", "verify-proof", file, "--public-key", logKey, "--witness-key", $"{WitnessName}={witnessKey}"]);
        _seen.AddRange([receipt, checkpoint, prove.All, runtime.All, named.All, keyOnly.All, wrong.All, tampered.All, daemon.Logs, witness.Logs]);

        await Assert.That(named.ExitCode).IsEqualTo(0).Because(named.ToString());
        await Assert.That(named.Stdout).Contains($"cosigned by {WitnessName} ({witnessKey[..16]}...)");
        await Assert.That(keyOnly.ExitCode).IsEqualTo(0).Because(keyOnly.ToString());
        using (JsonDocument j = JsonDocument.Parse(keyOnly.Stdout))
        {
            await Assert.That(j.RootElement.GetProperty("cosigned_by")[0].GetString()).StartsWith(WitnessName);
        }

        await Assert.That(wrong.ExitCode).IsEqualTo(1);
        await Assert.That(wrong.Stdout).Contains($"0 of the 1 required witness cosignatures verify; {WitnessName} ({otherKey[..16]}...): no cosignature line");
        await Assert.That(tampered.ExitCode).IsNotEqualTo(0);
        await AssertNoSecretsAsync();
    }

    [Test]
    public async Task A_cosignature_under_another_key_than_the_pinned_one_is_dropped_and_reported()
    {
        (string origin, string logKey, string witnessKey) = await PrepareAsync();
        await using DaemonProcess witness = await StartWitnessAsync(origin, logKey);
        string pinned = OtherKey();
        await using DaemonProcess daemon = await StartLogAsync(["--witness", $"{witness.BaseUri}={pinned}"]);
        using HttpClient admin = daemon.Client(_admin);

        string actionId = await ProbeAsync(admin);
        JsonElement state = await UntilValueAsync(async () =>
        {
            JsonElement w = (await RuntimeWitnessesAsync(admin))[0];
            return w.GetProperty("bad_cosignatures").GetInt64() >= 1 ? w : (JsonElement?)null;
        }, "the dropped cosignature in the runtime status");
        string receipt = await UntilAsync(async () =>
        {
            using HttpResponseMessage r = await admin.GetAsync($"/v1/audit/proof/{actionId}");
            return r.StatusCode == HttpStatusCode.OK ? await r.Content.ReadAsStringAsync() : null;
        }, "the receipt");
        await daemon.StopAsync();
        string file = _log.File("receipt.tlog-proof");
        File.WriteAllText(file, receipt);
        CliResult quorum = await Support.Cli.RunAsync(["audit", "verify-proof", file, "--public-key", logKey, "--witness-key", $"{WitnessName}={witnessKey}", "--witness-quorum", "1"]);
        _seen.AddRange([receipt, quorum.All, daemon.Logs, witness.Logs, state.ToString()]);

        await Assert.That(state.TryGetProperty("cosigned_size", out _)).IsFalse();
        await Assert.That(state.GetProperty("last_error").GetString()!).Contains("without a cosignature by its pinned key");
        await Assert.That(receipt).DoesNotContain("\u2014 " + WitnessName);
        await Assert.That(Directory.Exists(Path.Combine(_log.StateRoot, "external-action-log", "cosigned"))).IsFalse();
        await Assert.That(await daemon.LogsContainingAsync("cosignature dropped")).Contains("cosignature dropped");
        await Assert.That(quorum.ExitCode).IsEqualTo(1);
        await Assert.That(quorum.Stdout).Contains("no cosignature line");
        await AssertNoSecretsAsync();
    }

    [Test]
    public async Task A_restored_backup_is_refused_by_the_witness_and_the_daemon_reports_it()
    {
        (string origin, string logKey, string witnessKey) = await PrepareAsync();
        string backup = Path.Combine(_log.Path, "backup");
        TempDir.CopyTree(_log.StateRoot, backup);
        await using DaemonProcess witness = await StartWitnessAsync(origin, logKey);
        string[] args = ["--witness", $"{witness.BaseUri}={witnessKey}"];

        long witnessed;
        await using (DaemonProcess first = await StartLogAsync(args))
        {
            using HttpClient admin = first.Client(_admin);
            for (int i = 0; i < 5; i++)
            {
                await ProbeAsync(admin);
            }

            // 1 record before the backup, 10 after it: the witness cosigns a size the backup never reached.
            witnessed = await UntilValueAsync(async () =>
            {
                using HttpResponseMessage r = await admin.GetAsync("/v1/audit/checkpoint");
                long size = long.Parse((await r.Content.ReadAsStringAsync()).Split('\n')[1], System.Globalization.CultureInfo.InvariantCulture);
                JsonElement w = (await RuntimeWitnessesAsync(admin))[0];
                return size >= 11 && w.TryGetProperty("cosigned_size", out JsonElement s) && s.GetInt64() == size ? size : (long?)null;
            }, "the latest checkpoint cosigned");
            await first.StopAsync();
            _seen.Add(first.Logs);
        }

        Directory.Delete(_log.StateRoot, recursive: true);
        TempDir.CopyTree(backup, _log.StateRoot);
        await using DaemonProcess restored = await StartLogAsync(args);
        using HttpClient again = restored.Client(_admin);
        await ProbeAsync(again);
        JsonElement state = await UntilValueAsync(async () =>
        {
            JsonElement w = (await RuntimeWitnessesAsync(again))[0];
            return w.GetProperty("refusals").GetInt64() >= 1 ? w : (JsonElement?)null;
        }, "the witness's refusal in the runtime status");
        string checkpoint = await again.GetStringAsync("/v1/audit/checkpoint");
        _seen.AddRange([restored.Logs, witness.Logs, state.ToString(), checkpoint]);

        await Assert.That(state.GetProperty("last_error").GetString()!).Contains($"the witness holds size {witnessed}, larger than this checkpoint's");
        await Assert.That(state.GetProperty("last_error").GetString()!).Contains("rolled back or forked");
        await Assert.That(state.TryGetProperty("cosigned_size", out _)).IsFalse();
        await Assert.That(checkpoint).DoesNotContain("\u2014 " + WitnessName);
        await Assert.That(await restored.LogsContainingAsync("rolled back or forked")).Contains("rolled back or forked");
        await AssertNoSecretsAsync();
    }

    [Test]
    public async Task With_a_quorum_an_action_waits_for_the_witness_and_fails_closed_once_it_is_stopped()
    {
        (string origin, string logKey, string witnessKey) = await PrepareAsync();
        DaemonProcess witness = await StartWitnessAsync(origin, logKey);
        await using DaemonProcess daemon = await StartLogAsync(["--witness", $"{witness.BaseUri}={witnessKey}", "--witness-quorum", "1", "--witness-timeout-seconds", "8"]);
        using HttpClient admin = daemon.Client(_admin);

        // Acknowledged only once cosigned: the receipt has the cosignature at once, no polling.
        string actionId = await ProbeAsync(admin);
        string receipt = await admin.GetStringAsync($"/v1/audit/proof/{actionId}");
        await Assert.That(receipt).Contains($"\u2014 {WitnessName} ");

        await witness.StopAsync();
        _seen.Add(witness.Logs);
        await witness.DisposeAsync();
        using HttpResponseMessage refused = await admin.PostAsync("/v1/runtime/audit/test-action",
            new StringContent("{\"run_id\":\"run-q\",\"target\":\"probe\"}", Encoding.UTF8, "application/json"));
        string problem = await refused.Content.ReadAsStringAsync();
        JsonElement view = await RuntimeViewAsync(admin);
        _seen.AddRange([receipt, problem, view.ToString(), daemon.Logs]);

        await Assert.That(refused.StatusCode).IsEqualTo(HttpStatusCode.ServiceUnavailable);
        await Assert.That(problem).Contains("witness_quorum_not_reached");
        await Assert.That(problem).Contains("0 of the 1 witnesses required by --witness-quorum");
        await Assert.That(problem).Contains("within 8 s");
        await Assert.That(view.GetProperty("quorum").GetInt32()).IsEqualTo(1);
        await Assert.That(view.GetProperty("quorum_failures").GetInt64()).IsEqualTo(1L);
        await Assert.That(view.GetProperty("last_quorum_failure").GetString()!).Contains("witness quorum not reached");
        await Assert.That(view.GetProperty("witnesses")[0].GetProperty("last_error").GetString()!).Contains("cannot reach the witness");
        await Assert.That(await daemon.LogsContainingAsync("witness quorum not reached")).Contains("witness quorum not reached");
        await AssertNoSecretsAsync();
    }

    [Test]
    [Arguments("witness.example", "--witness 'witness.example' is not <url>=<64 hex characters")]
    [Arguments("ftp://127.0.0.1:1=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "is not an absolute http(s) URL")]
    [Arguments("http://witness.example=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "plain http is allowed only to a loopback witness")]
    [Arguments("http://127.0.0.1:1=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f70751", "'d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f70751' is not 64 hex characters")]
    public async Task Serve_refuses_a_bad_witness_value_naming_it_and_starts_nothing(string value, string expected)
    {
        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(_log.StateRoot, ["--witness", value]);

        await Assert.That(r.ExitCode).IsEqualTo(2).Because(r.ToString());
        await Assert.That(r.Stderr).Contains(expected);
        await Assert.That(Directory.Exists(_log.StateRoot)).IsFalse();
    }

    [Test]
    public async Task Serve_refuses_a_quorum_larger_than_its_witnesses()
    {
        CliResult r = await DaemonProcess.RunExpectingRefusalAsync(_log.StateRoot, ["--witness", "http://127.0.0.1:1=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "--witness-quorum", "2"]);

        await Assert.That(r.ExitCode).IsEqualTo(2).Because(r.ToString());
        await Assert.That(r.Stderr).Contains("--witness-quorum 2 must be between 0 and the number of --witness options (1)");
        await Assert.That(Directory.Exists(_log.StateRoot)).IsFalse();
    }

    /// <summary>Creates the log's key (one stress record) and the witness's; returns the origin and both public keys.</summary>
    private async Task<(string Origin, string LogKey, string WitnessKey)> PrepareAsync()
    {
        CliResult stress = await Support.Cli.RunAsync(["--state-root", _log.StateRoot, "audit", "stress", "--count", "1", "--producers", "1", "--run", "r"]);
        await Assert.That(stress.ExitCode).IsEqualTo(0).Because(stress.ToString());
        string logKey = (await Support.Cli.RunAsync(["--state-root", _log.StateRoot, "audit", "public-key"])).Stdout.Trim();
        CliResult pk = await Support.Cli.RunAsync(["--state-root", _witness.StateRoot, "witness", "public-key", "--name", WitnessName]);
        await Assert.That(pk.ExitCode).IsEqualTo(0).Because(pk.ToString());
        _seen.AddRange([stress.All, pk.All]);
        return ($"kheish-daemon/{logKey[..8]}", logKey, pk.Stdout.Split('\n')[0].Trim());
    }

    private Task<DaemonProcess> StartWitnessAsync(string origin, string logKey) =>
        DaemonProcess.StartWitnessAsync(_witness.StateRoot, ["--name", WitnessName, "--log", $"{origin}={logKey}"]);

    private Task<DaemonProcess> StartLogAsync(string[] args) => DaemonProcess.StartAsync(_log.StateRoot, ["--http-admin-token", _admin, .. args]);

    private static async Task<string> ProbeAsync(HttpClient admin)
    {
        using HttpResponseMessage probe = await admin.PostAsync("/v1/runtime/audit/test-action",
            new StringContent("{\"run_id\":\"run-w\",\"target\":\"probe\"}", Encoding.UTF8, "application/json"));
        string body = await probe.Content.ReadAsStringAsync();
        if (probe.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"test-action: {(int)probe.StatusCode} {body}");
        }

        using JsonDocument doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("completed").GetProperty("action_id").GetString()!;
    }

    private static async Task<JsonElement> RuntimeViewAsync(HttpClient admin)
    {
        using JsonDocument doc = JsonDocument.Parse(await admin.GetStringAsync("/v1/runtime"));
        return doc.RootElement.GetProperty("witnesses").Clone();
    }

    private static async Task<JsonElement> RuntimeWitnessesAsync(HttpClient admin) => (await RuntimeViewAsync(admin)).GetProperty("witnesses");

    private static async Task<T> UntilAsync<T>(Func<Task<T?>> probe, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }

            await Task.Delay(100);
        }
    }

    private static async Task<T> UntilValueAsync<T>(Func<Task<T?>> probe, string what)
        where T : struct =>
        (T)await UntilAsync<object>(async () => await probe(), what);

    private static string OtherKey()
    {
        using Ed25519PrivateKey other = Ed25519PrivateKey.Generate();
        return Convert.ToHexStringLower(other.PublicKey);
    }

    /// <summary>Neither private key (the witness seed, the audit signing seed) nor the admin token is in any output, log, answer or receipt.</summary>
    private async Task AssertNoSecretsAsync()
    {
        byte[] witnessSeed = File.ReadAllBytes(Witness.KeyFile(_witness.StateRoot));
        using JsonDocument auditKey = JsonDocument.Parse(File.ReadAllText(Path.Combine(_log.StateRoot, "audit-signing.key")));
        string auditSeed = auditKey.RootElement.GetProperty("secret_key_hex").GetString()!;
        string everything = string.Join("\n", _seen);
        foreach (string secret in new[] { Convert.ToHexStringLower(witnessSeed), Convert.ToHexString(witnessSeed), Convert.ToBase64String(witnessSeed), auditSeed, auditSeed[..32], _admin })
        {
            await Assert.That(everything).DoesNotContain(secret);
        }

        foreach (string file in Directory.EnumerateFiles(Path.Combine(_log.StateRoot, "external-action-log"), "*", SearchOption.AllDirectories))
        {
            string text = Encoding.Latin1.GetString(File.ReadAllBytes(file));
            await Assert.That(text).DoesNotContain(auditSeed[..32]);
            await Assert.That(text).DoesNotContain(Convert.ToHexStringLower(witnessSeed));
        }
    }
}
