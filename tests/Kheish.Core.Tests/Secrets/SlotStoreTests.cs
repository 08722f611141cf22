using System.Text;
using System.Text.Json;
using Kheish.Core.Crypto;
using Kheish.Core.Secrets;
using Kheish.Core.Storage;

namespace Kheish.Core.Tests.Secrets;

public sealed class SlotStoreTests : IDisposable
{
    private readonly StateRoot _root = new(Path.Combine(Directory.CreateTempSubdirectory("kheish-slots-").FullName, "state"));
    private readonly MasterKey _key = MasterKey.Generate();

    private static SlotId Id(string s) => SlotId.Parse(s).Value;

    private static SlotRecord ApiKey(string id, string value) =>
        SlotRecord.WithSecret(Id(id), SlotProvider.OpenAi, SlotMode.ApiKey, value, 0);

    private SlotStore Load(MasterKey? key = null) => SlotStore.Load(_root, key ?? _key).Value;

    [Test]
    public async Task A_missing_file_is_an_empty_store()
    {
        await Assert.That(Load().List()).IsEmpty();
    }

    [Test]
    public async Task Set_then_load_round_trips_every_field()
    {
        var time = new FixedTime(1_700_000_000_123);
        SlotStore store = SlotStore.Load(_root, _key, time).Value;

        store.Set(ApiKey("openai-main", "sk-round-trip"));
        SlotRecord loaded = Load().Get(Id("openai-main"))!;

        await Assert.That(loaded.Provider).IsEqualTo(SlotProvider.OpenAi);
        await Assert.That(loaded.Mode).IsEqualTo(SlotMode.ApiKey);
        await Assert.That(loaded.SecretValue()).IsEqualTo("sk-round-trip");
        await Assert.That(loaded.UpdatedAtMs).IsEqualTo(1_700_000_000_123);
    }

    [Test]
    public async Task The_file_is_an_envelope_that_holds_no_plaintext_and_is_0600_in_a_0700_tree()
    {
        Load().Set(ApiKey("a", "sk-plaintext-canary"));

        byte[] file = File.ReadAllBytes(_root.SlotsFile);
        await Assert.That(EnvelopeCodec.IsEnvelope(file)).IsTrue();
        await Assert.That(Encoding.UTF8.GetString(file)).DoesNotContain("sk-plaintext-canary");
        await Assert.That(Encoding.UTF8.GetString(file)).DoesNotContain("\"a\"");
        await Assert.That(File.GetUnixFileMode(_root.SlotsFile)).IsEqualTo(AtomicFile.PrivateFileMode);
        await Assert.That(File.GetUnixFileMode(_root.AuthDirectory)).IsEqualTo(PrivateDirectory.Mode);
        await Assert.That(File.GetUnixFileMode(_root.FullPath)).IsEqualTo(PrivateDirectory.Mode);
    }

    [Test]
    public async Task Legacy_plaintext_is_read_without_a_key_and_encrypted_on_the_next_save()
    {
        Directory.CreateDirectory(_root.AuthDirectory);
        File.WriteAllText(_root.SlotsFile, """
            {"slots":{"old":{"slot_id":"old","provider":"anthropic","mode":"api_key","state":{"api_key":"sk-legacy"},"updated_at_ms":7}}}
            """);

        SlotStore readOnly = Load(key: null);
        await Assert.That(SlotStore.Load(_root, null).Value.Get(Id("old"))!.SecretValue()).IsEqualTo("sk-legacy");
        await Assert.That(readOnly.IsLegacyPlaintext).IsTrue();

        SlotStore store = Load();
        store.Set(ApiKey("new", "sk-new"));

        await Assert.That(EnvelopeCodec.IsEnvelope(File.ReadAllBytes(_root.SlotsFile))).IsTrue();
        await Assert.That(File.ReadAllText(_root.SlotsFile)).DoesNotContain("sk-legacy");
        await Assert.That(Load().List().Select(r => r.SlotId.Value)).IsEquivalentTo(["new", "old"], CollectionOrdering.Matching);
        await Assert.That(Load().Get(Id("old"))!.UpdatedAtMs).IsEqualTo(7);
    }

    [Test]
    public async Task Saving_without_a_master_key_fails_says_how_to_set_it_and_changes_nothing()
    {
        Directory.CreateDirectory(_root.AuthDirectory);
        const string legacy = """{"slots":{}}""";
        File.WriteAllText(_root.SlotsFile, legacy);
        SlotStore store = SlotStore.Load(_root, null).Value;

        var result = store.Set(ApiKey("a", "sk-x"));

        await Assert.That(result.Error?.Code).IsEqualTo("master_key_required");
        await Assert.That(result.Error!.Message).Contains(MasterKey.ValueVariable);
        await Assert.That(result.Error.Message).Contains("secrets generate");
        await Assert.That(File.ReadAllText(_root.SlotsFile)).IsEqualTo(legacy);
        await Assert.That(store.List()).IsEmpty();
    }

    [Test]
    public async Task An_encrypted_store_without_a_key_is_refused_on_load()
    {
        Load().Set(ApiKey("a", "sk-x"));

        await Assert.That(SlotStore.Load(_root, null).Error?.Code).IsEqualTo("master_key_required");
    }

    [Test]
    public async Task A_failed_write_leaves_memory_unchanged()
    {
        SlotStore store = Load();
        store.Set(ApiKey("a", "sk-1"));
        File.Delete(_root.SlotsFile);
        Directory.Delete(_root.AuthDirectory);
        File.WriteAllText(_root.AuthDirectory, "a file where the directory should be");

        var result = store.Set(ApiKey("b", "sk-2"));

        await Assert.That(result.Error?.Code).IsEqualTo("state_write_failed");
        await Assert.That(store.List().Select(r => r.SlotId.Value)).IsEquivalentTo(["a"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Delete_removes_a_slot_and_reports_whether_it_existed()
    {
        SlotStore store = Load();
        store.Set(ApiKey("a", "sk-1"));

        await Assert.That(store.Delete(Id("a")).Value).IsTrue();
        await Assert.That(store.Delete(Id("a")).Value).IsFalse();
        await Assert.That(Load().Get(Id("a"))).IsNull();
    }

    [Test]
    public async Task SlotChanged_fires_after_set_and_delete()
    {
        SlotStore store = Load();
        var changed = new List<string>();
        store.SlotChanged += id => changed.Add(id.Value);

        store.Set(ApiKey("a", "sk-1"));
        store.Delete(Id("a"));
        store.Delete(Id("a"));

        await Assert.That(changed).IsEquivalentTo(["a", "a"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Concurrent_writers_lose_no_update()
    {
        SlotStore store = Load();

        var outcomes = new bool[64];
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
            outcomes[i] = store.Set(ApiKey($"slot-{i}", $"sk-{i}")).IsOk);

        await Assert.That(outcomes).All(ok => ok);

        await Assert.That(store.List().Count).IsEqualTo(64);
        await Assert.That(Load().List().Count).IsEqualTo(64);
    }

    [Test]
    public async Task A_flipped_byte_in_the_file_is_refused_and_the_file_kept()
    {
        Load().Set(ApiKey("a", "sk-1"));
        byte[] file = File.ReadAllBytes(_root.SlotsFile);
        int at = Encoding.UTF8.GetString(file).IndexOf("\"ciphertext\":\"", StringComparison.Ordinal) + 20;
        file[at] = (byte)(file[at] == 'A' ? 'B' : 'A');
        File.WriteAllBytes(_root.SlotsFile, file);

        var result = SlotStore.Load(_root, _key);

        await Assert.That(result.Error?.Code).IsEqualTo("envelope_tampered");
        await Assert.That(File.ReadAllBytes(_root.SlotsFile)).IsEquivalentTo(file, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Garbled_plaintext_is_reported_as_corrupt_without_echoing_content()
    {
        Directory.CreateDirectory(_root.AuthDirectory);
        File.WriteAllText(_root.SlotsFile, "{\"slots\":{\"a\":{\"slot_id\":\"a\",\"provider\":\"nope\",\"mode\":\"api_key\",\"state\":{\"api_key\":\"sk-garbled\"},\"updated_at_ms\":1}}}");

        var error = SlotStore.Load(_root, _key).Error!;

        await Assert.That(error.Code).IsEqualTo("state_file_corrupt");
        await Assert.That(error.Message).Contains(_root.SlotsFile);
        await Assert.That(error.Message).DoesNotContain("sk-garbled");
    }

    [Test]
    public async Task A_record_whose_key_differs_from_its_slot_id_is_corrupt()
    {
        Directory.CreateDirectory(_root.AuthDirectory);
        File.WriteAllText(_root.SlotsFile, "{\"slots\":{\"a\":{\"slot_id\":\"b\",\"provider\":\"openai\",\"mode\":\"api_key\",\"state\":{\"api_key\":\"k\"},\"updated_at_ms\":1}}}");

        await Assert.That(SlotStore.Load(_root, _key).Error?.Code).IsEqualTo("state_file_corrupt");
    }

    [Test]
    public async Task Plaintext_inside_the_envelope_is_the_slots_snapshot()
    {
        Load().Set(ApiKey("a", "sk-1"));

        byte[] plain = EnvelopeCodec.Open(File.ReadAllBytes(_root.SlotsFile), _key, SlotStore.Purpose).Value;
        using var doc = JsonDocument.Parse(plain);

        await Assert.That(doc.RootElement.GetProperty("slots").GetProperty("a").GetProperty("state").GetProperty("api_key").GetString()).IsEqualTo("sk-1");
    }

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_root.FullPath)!, recursive: true);

    private sealed class FixedTime(long ms) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(ms);
    }
}
