using System.Text;
using Kheish.Core.Crypto;
using Kheish.Core.Storage;

namespace Kheish.Core.Tests.Crypto;

public sealed class EnvelopeRekeyTests : IDisposable
{
    private readonly StateRoot _root = new(Directory.CreateTempSubdirectory("kheish-rekey-").FullName);
    private readonly MasterKey _old = MasterKey.Generate();
    private readonly MasterKey _new = MasterKey.Generate();

    private static readonly string[] Purposes =
        ["auth/global-slots.json", "auth/global-slots.broker-state.json", "connectors.json", "deep/nested/state.json"];

    private void WriteAll(MasterKey key)
    {
        foreach (string purpose in Purposes)
        {
            AtomicFile.Write(Path.Combine(_root.FullPath, purpose), EnvelopeCodec.Seal(Encoding.UTF8.GetBytes("plain " + purpose), key, purpose));
        }
    }

    private async Task AssertAllOpenWith(MasterKey key)
    {
        foreach (string purpose in Purposes)
        {
            byte[] file = File.ReadAllBytes(Path.Combine(_root.FullPath, purpose));
            await Assert.That(Encoding.UTF8.GetString(EnvelopeCodec.Open(file, key, purpose).Value)).IsEqualTo("plain " + purpose);
        }
    }

    [Test]
    public async Task Rekey_reencrypts_every_envelope_under_the_new_key()
    {
        WriteAll(_old);
        File.WriteAllText(Path.Combine(_root.FullPath, "plain.json"), "{\"not\":\"encrypted\"}");

        RekeyReport report = EnvelopeRekey.Run(_root, _old, _new).Value;

        await Assert.That(report.Rekeyed).IsEqualTo(Purposes.Length);
        await Assert.That(report.AlreadyCurrent).IsEqualTo(0);
        await AssertAllOpenWith(_new);
        await Assert.That(File.ReadAllText(Path.Combine(_root.FullPath, "plain.json"))).IsEqualTo("{\"not\":\"encrypted\"}");
    }

    [Test]
    public async Task An_interrupted_rekey_is_completed_by_running_it_again()
    {
        WriteAll(_old);
        int written = 0;

        Assert.ThrowsExactly<InvalidOperationException>(() => EnvelopeRekey.Run(_root, _old, _new, _ =>
        {
            if (++written == 2)
            {
                throw new InvalidOperationException("killed");
            }
        }));
        RekeyReport report = EnvelopeRekey.Run(_root, _old, _new).Value;

        await Assert.That(report.AlreadyCurrent).IsEqualTo(2);
        await Assert.That(report.Rekeyed).IsEqualTo(Purposes.Length - 2);
        await AssertAllOpenWith(_new);
    }

    [Test]
    public async Task A_file_readable_with_neither_key_stops_the_rekey_before_any_write()
    {
        WriteAll(_old);
        string stranger = Path.Combine(_root.FullPath, "zz-stranger.json");
        AtomicFile.Write(stranger, EnvelopeCodec.Seal("x"u8, MasterKey.Generate(), "zz-stranger.json"));
        var before = Purposes.Select(p => File.ReadAllBytes(Path.Combine(_root.FullPath, p))).ToList();

        var result = EnvelopeRekey.Run(_root, _old, _new);

        await Assert.That(result.Error?.Code).IsEqualTo("wrong_master_key");
        await Assert.That(result.Error!.Message).Contains(stranger);
        await Assert.That(Purposes.Select(p => File.ReadAllBytes(Path.Combine(_root.FullPath, p))).ToList()).IsEquivalentTo(before, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Rekey_to_the_same_key_is_refused()
    {
        await Assert.That(EnvelopeRekey.Run(_root, _old, _old).Error?.Code).IsEqualTo("rekey_same_key");
    }

    public void Dispose() => Directory.Delete(_root.FullPath, recursive: true);
}
