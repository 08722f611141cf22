using System.Collections.Concurrent;
using System.Text;
using Kheish.Core.Audit;
using Kheish.Core.Crypto;
using Kheish.Core.Errors;
using Kheish.Core.Storage;
using Kheish.Core.Tests.Audit;
using Kheish.Core.Transparency;

namespace Kheish.Core.Tests.Transparency;

/// <summary>
/// The log side of <c>serve --witness</c>: the background push loop against a real <see cref="Witness"/>
/// behind an in-memory handler (409 catch-up, pinned key, quorum), and the flag parsers.
/// </summary>
public sealed class WitnessPusherTests : IDisposable
{
    private readonly LedgerTestRoot _t = new();
    private readonly string _witnessDir = Directory.CreateTempSubdirectory("kheish-witness-pusher-").FullName;
    private readonly List<string> _warnings = [];

    public void Dispose()
    {
        _t.Dispose();
        Directory.Delete(_witnessDir, recursive: true);
    }

    private static readonly LedgerOptions Options = new()
    {
        CheckpointInterval = TimeSpan.FromMilliseconds(1),
        TransparencyLog = new LogOptions { CheckpointInterval = TimeSpan.FromMilliseconds(20) },
    };

    private ExternalActionLedger OpenLedger() => ExternalActionLedger.Open(_t.Root, _t.Key, Options).Value;

    private string Origin => TransparencyLog.DefaultOrigin(_t.Key.PublicKeyHex);

    private Witness OpenWitness() => Witness.Open(_witnessDir, "witness.test/w1", new Dictionary<string, byte[]> { [Origin] = _t.Key.PublicKey });

    private WitnessPusher Pusher(ExternalActionLedger ledger, HttpMessageHandler handler, byte[] key, int quorum = 0) =>
        new(ledger.Log!, [new WitnessEndpoint(new Uri("http://127.0.0.1:9/"), key)],
            new WitnessPushOptions { Quorum = quorum, QuorumTimeout = TimeSpan.FromSeconds(quorum == 0 ? 10 : 30), FirstBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(50), MaxAttempts = 3 },
            w => { lock (_warnings) { _warnings.Add(w); } }, handler);

    /// <summary>Serves a witness in memory and records each request's first line ("old N").</summary>
    private sealed class InMemory(Witness witness) : HttpMessageHandler
    {
        public ConcurrentQueue<string> OldLines { get; } = new();

        public bool Down { get; set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Down)
            {
                throw new HttpRequestException("Connection refused (127.0.0.1:9)");
            }

            byte[] body = await request.Content!.ReadAsByteArrayAsync(cancellationToken);
            OldLines.Enqueue(Encoding.UTF8.GetString(body).Split('\n')[0]);
            WitnessAnswer a = witness.AddCheckpoint(body);
            var content = new StringContent(a.Body);
            content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(a.ContentType);
            return new HttpResponseMessage((System.Net.HttpStatusCode)a.Status) { Content = content };
        }
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }

            await Task.Delay(20);
        }
    }

    [Test]
    public async Task A_restarted_log_catches_up_from_the_size_the_witness_names_in_its_409_and_keeps_the_cosignature()
    {
        using Witness witness = OpenWitness();
        var handler = new InMemory(witness);
        string actionId;
        await using (ExternalActionLedger ledger = OpenLedger())
        {
            for (int i = 0; i < 10; i++)
            {
                await ledger.AppendAsync(LedgerTestRoot.Event());
            }

            // The witness already cosigned size 10 of this log (pushed by an earlier process).
            await Until(() => ledger.Log!.CheckpointSize == 10, "checkpoint 10");
            string note10 = ledger.Log!.Latest!.Value.Note;
            await Assert.That(witness.AddCheckpoint(Encoding.UTF8.GetBytes(Witness.Request(0, [], note10))).Status).IsEqualTo(200);

            actionId = (await ledger.AppendAsync(LedgerTestRoot.Event())).Value.ActionId;
            await Until(() => ledger.Log!.CheckpointSize == 11, "checkpoint 11");

            // A new pusher believes the witness holds nothing: old 0 gets 409 "10", the retry sends old 10.
            await using WitnessPusher pusher = Pusher(ledger, handler, witness.PublicKey);
            pusher.Start();
            await Until(() => pusher.View.Witnesses[0].CosignedSize == 11, "the cosignature of size 11");

            await Assert.That(handler.OldLines.ToArray()).IsEquivalentTo(["old 0", "old 10"], TUnit.Assertions.Enums.CollectionOrdering.Matching);
            WitnessStatus status = pusher.View.Witnesses[0];
            await Assert.That(status.KeyName).IsEqualTo("witness.test/w1");
            await Assert.That(status.Cosignatures).IsEqualTo(1L);
            await Assert.That(status.Refusals).IsEqualTo(0L);
            await Assert.That(witness.Latest(Origin)!.Size).IsEqualTo(11L);

            // The served checkpoint and the receipt carry the cosignature, which verifies under the witness key.
            string served = ledger.Log!.CheckpointNote!;
            await Assert.That(served).Contains("\u2014 witness.test/w1 ");
            TlogProof receipt = ledger.Log!.Prove(actionId).Value;
            var required = WitnessRequirement.Parse([$"witness.test/w1={Convert.ToHexStringLower(witness.PublicKey)}"], null).Value;
            await Assert.That(required.Check(receipt.CheckpointNote).IsOk).IsTrue();
            await Assert.That(ReceiptVerifier.Verify(receipt.Format(), _t.Key.PublicKey, null).IsOk).IsTrue();
        }

        // Durable beside the checkpoint: an offline receipt after the restart still carries it.
        string file = Path.Combine(CosignedCheckpoints.DirectoryOf(new LogPaths(_t.Root)), "11");
        await Assert.That(File.ReadAllText(file)).Contains("\u2014 witness.test/w1 ");
        LogState state = LogState.Load(_t.Root, _t.Key.PublicKey);
        TlogProof offline = state.Prove(_t.Root, actionId).Value;
        await Assert.That(offline.CheckpointNote).Contains("\u2014 witness.test/w1 ");
        await Assert.That(WitnessRequirement.Parse([Convert.ToHexStringLower(witness.PublicKey)], 1).Value.Check(offline.CheckpointNote).IsOk).IsTrue();
    }

    [Test]
    public async Task A_cosignature_that_does_not_verify_under_the_configured_key_is_dropped_and_counted()
    {
        using Witness witness = OpenWitness();
        using Ed25519PrivateKey other = Ed25519PrivateKey.Generate();
        await using ExternalActionLedger ledger = OpenLedger();
        await ledger.AppendAsync(LedgerTestRoot.Event());
        await using WitnessPusher pusher = Pusher(ledger, new InMemory(witness), other.PublicKey);

        pusher.Start();
        await Until(() => pusher.View.Witnesses[0].BadCosignatures >= 1, "the dropped cosignature");

        WitnessStatus status = pusher.View.Witnesses[0];
        await Assert.That(status.CosignedSize).IsNull();
        await Assert.That(status.LastError!).Contains("without a cosignature by its pinned key");
        await Assert.That(ledger.Log!.CheckpointNote!).DoesNotContain("witness.test/w1");
        await Assert.That(Directory.Exists(CosignedCheckpoints.DirectoryOf(new LogPaths(_t.Root)))).IsFalse();
        await Assert.That(string.Join("\n", _warnings)).Contains("cosignature dropped");
    }

    [Test]
    public async Task With_a_quorum_an_append_completes_once_cosigned_and_fails_closed_when_the_witness_is_down()
    {
        using Witness witness = OpenWitness();
        var handler = new InMemory(witness);
        await using ExternalActionLedger ledger = OpenLedger();
        await using WitnessPusher pusher = new(ledger.Log!, [new WitnessEndpoint(new Uri("http://127.0.0.1:9/"), witness.PublicKey)],
            new WitnessPushOptions { Quorum = 1, QuorumTimeout = TimeSpan.FromSeconds(30), FirstBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(20), MaxAttempts = 2 },
            w => { lock (_warnings) { _warnings.Add(w); } }, handler);
        ledger.Witnesses = pusher;
        pusher.Start();

        Result<LedgerRecord> witnessed = await ledger.AppendAsync(LedgerTestRoot.Event());
        await Assert.That(witnessed.IsOk).IsTrue();
        long index = LogState.Load(_t.Root, _t.Key.PublicKey).ByAction[ActionKey.TryParseHex(witnessed.Value.ActionId)!.Value].Index;
        await Assert.That(witness.Latest(Origin)!.Size).IsGreaterThan(index);

        handler.Down = true;
        await using WitnessPusher strict = new(ledger.Log!, [new WitnessEndpoint(new Uri("http://127.0.0.1:9/"), witness.PublicKey)],
            new WitnessPushOptions { Quorum = 1, QuorumTimeout = TimeSpan.FromMilliseconds(500), FirstBackoff = TimeSpan.FromMilliseconds(10), MaxBackoff = TimeSpan.FromMilliseconds(20), MaxAttempts = 2 },
            w => { lock (_warnings) { _warnings.Add(w); } }, handler);
        ledger.Witnesses = strict;
        strict.Start();
        Result<LedgerRecord> refused = await ledger.AppendAsync(LedgerTestRoot.Event());

        await Assert.That(refused.IsOk).IsFalse();
        await Assert.That(refused.Error!.Code).IsEqualTo(WitnessPusher.QuorumCode);
        await Assert.That(refused.Error!.Message).Contains("0 of the 1 witnesses required by --witness-quorum");
        await Assert.That(refused.Error!.Message).Contains("Connection refused");
        await Assert.That(strict.View.QuorumFailures).IsEqualTo(1L);
        await Assert.That(strict.View.Witnesses[0].NetworkErrors).IsGreaterThanOrEqualTo(1L);
    }

    [Test]
    [Arguments("https://witness.example/=", "is not 64 hex characters")]
    [Arguments("ftp://witness.example/=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "is not an absolute http(s) URL")]
    [Arguments("http://witness.example/=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "plain http is allowed only to a loopback witness")]
    [Arguments("https://user:pw@witness.example/=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "no user info")]
    [Arguments("https://witness.example/", "is not <url>=<64 hex")]
    [Arguments("https://witness.example/=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f70751", "is not 64 hex characters")]
    public async Task A_bad_witness_value_is_refused_naming_it(string value, string expected)
    {
        Result<WitnessEndpoint> parsed = WitnessEndpoint.Parse(value);

        await Assert.That(parsed.IsOk).IsFalse();
        await Assert.That(parsed.Error!.Message).Contains(expected);
        await Assert.That(parsed.Error!.Message).Contains($"--witness '{value}'");
    }

    [Test]
    [Arguments("http://127.0.0.1:8080=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "http://127.0.0.1:8080/add-checkpoint")]
    [Arguments("http://[::1]:8080/w/=d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "http://[::1]:8080/w/add-checkpoint")]
    [Arguments("https://witness.example/=D75A980182B10AB7D54BFED3C964073A0EE172F3DAA62325AF021A68F707511A", "https://witness.example/add-checkpoint")]
    public async Task A_good_witness_value_names_its_add_checkpoint_endpoint(string value, string endpoint)
    {
        WitnessEndpoint parsed = WitnessEndpoint.Parse(value).Value;

        await Assert.That(parsed.AddCheckpoint.AbsoluteUri).IsEqualTo(endpoint);
        await Assert.That(parsed.PublicKeyHex).IsEqualTo("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    }

    [Test]
    public async Task The_offline_check_names_a_missing_and_a_changed_cosignature()
    {
        using Ed25519PrivateKey logKey = Ed25519PrivateKey.Generate();
        using Ed25519PrivateKey w1 = Ed25519PrivateKey.Generate();
        using Ed25519PrivateKey w2 = Ed25519PrivateKey.Generate();
        string text = new Checkpoint("example.test/log", 3, MerkleHash.Leaf([1])).Text;
        string note = SignedNote.Sign(text, "example.test/log", logKey) + Cosignature.Line(text, "w1", w1, 1700000000);
        string changed = note.Replace("\n3\n", "\n4\n", StringComparison.Ordinal);
        string keys1 = $"w1={Convert.ToHexStringLower(w1.PublicKey)}";
        string keys2 = $"w2={Convert.ToHexStringLower(w2.PublicKey)}";

        Result<IReadOnlyList<string>> one = WitnessRequirement.Parse([keys1], null).Value.Check(note);
        Result<IReadOnlyList<string>> both = WitnessRequirement.Parse([keys1, keys2], null).Value.Check(note);
        Result<IReadOnlyList<string>> oneOfTwo = WitnessRequirement.Parse([keys1, keys2], 1).Value.Check(note);
        Result<IReadOnlyList<string>> tampered = WitnessRequirement.Parse([keys1], null).Value.Check(changed);

        await Assert.That(one.IsOk).IsTrue();
        await Assert.That(both.Error!.Message).Contains("1 of the 2 required witness cosignatures verify; w2 (");
        await Assert.That(both.Error!.Message).Contains("no cosignature line");
        await Assert.That(oneOfTwo.IsOk).IsTrue();
        await Assert.That(tampered.Error!.Message).Contains("its cosignature line does not verify");
        await Assert.That(WitnessRequirement.Parse([keys1], 2).Error!.Message).Contains("--witness-quorum 2 must be between 0 and the number of --witness-key options (1)");
        await Assert.That(WitnessRequirement.Parse(["w1=zz"], null).Error!.Message).Contains("--witness-key 'w1=zz' is not");
    }
}
