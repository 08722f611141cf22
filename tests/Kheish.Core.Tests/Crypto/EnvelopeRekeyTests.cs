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

    private void AssertAllOpenWith(MasterKey key)
    {
        foreach (string purpose in Purposes)
        {
            byte[] file = File.ReadAllBytes(Path.Combine(_root.FullPath, purpose));
            Assert.Equal("plain " + purpose, Encoding.UTF8.GetString(EnvelopeCodec.Open(file, key, purpose).Value));
        }
    }

    [Fact]
    public void Rekey_reencrypts_every_envelope_under_the_new_key()
    {
        WriteAll(_old);
        File.WriteAllText(Path.Combine(_root.FullPath, "plain.json"), "{\"not\":\"encrypted\"}");

        RekeyReport report = EnvelopeRekey.Run(_root, _old, _new).Value;

        Assert.Equal(Purposes.Length, report.Rekeyed);
        Assert.Equal(0, report.AlreadyCurrent);
        AssertAllOpenWith(_new);
        Assert.Equal("{\"not\":\"encrypted\"}", File.ReadAllText(Path.Combine(_root.FullPath, "plain.json")));
    }

    [Fact]
    public void An_interrupted_rekey_is_completed_by_running_it_again()
    {
        WriteAll(_old);
        int written = 0;

        Assert.Throws<InvalidOperationException>(() => EnvelopeRekey.Run(_root, _old, _new, _ =>
        {
            if (++written == 2)
            {
                throw new InvalidOperationException("killed");
            }
        }));
        RekeyReport report = EnvelopeRekey.Run(_root, _old, _new).Value;

        Assert.Equal(2, report.AlreadyCurrent);
        Assert.Equal(Purposes.Length - 2, report.Rekeyed);
        AssertAllOpenWith(_new);
    }

    [Fact]
    public void A_file_readable_with_neither_key_stops_the_rekey_before_any_write()
    {
        WriteAll(_old);
        string stranger = Path.Combine(_root.FullPath, "zz-stranger.json");
        AtomicFile.Write(stranger, EnvelopeCodec.Seal("x"u8, MasterKey.Generate(), "zz-stranger.json"));
        var before = Purposes.Select(p => File.ReadAllBytes(Path.Combine(_root.FullPath, p))).ToList();

        var result = EnvelopeRekey.Run(_root, _old, _new);

        Assert.Equal("wrong_master_key", result.Error?.Code);
        Assert.Contains(stranger, result.Error!.Message);
        Assert.Equal(before, Purposes.Select(p => File.ReadAllBytes(Path.Combine(_root.FullPath, p))).ToList());
    }

    [Fact]
    public void Rekey_to_the_same_key_is_refused()
    {
        Assert.Equal("rekey_same_key", EnvelopeRekey.Run(_root, _old, _old).Error?.Code);
    }

    public void Dispose() => Directory.Delete(_root.FullPath, recursive: true);
}
