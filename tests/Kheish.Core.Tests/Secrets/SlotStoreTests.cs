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

    [Fact]
    public void A_missing_file_is_an_empty_store()
    {
        Assert.Empty(Load().List());
    }

    [Fact]
    public void Set_then_load_round_trips_every_field()
    {
        var time = new FixedTime(1_700_000_000_123);
        SlotStore store = SlotStore.Load(_root, _key, time).Value;

        store.Set(ApiKey("openai-main", "sk-round-trip"));
        SlotRecord loaded = Load().Get(Id("openai-main"))!;

        Assert.Equal(SlotProvider.OpenAi, loaded.Provider);
        Assert.Equal(SlotMode.ApiKey, loaded.Mode);
        Assert.Equal("sk-round-trip", loaded.SecretValue());
        Assert.Equal(1_700_000_000_123, loaded.UpdatedAtMs);
    }

    [Fact]
    public void The_file_is_an_envelope_that_holds_no_plaintext_and_is_0600_in_a_0700_tree()
    {
        Load().Set(ApiKey("a", "sk-plaintext-canary"));

        byte[] file = File.ReadAllBytes(_root.SlotsFile);
        Assert.True(EnvelopeCodec.IsEnvelope(file));
        Assert.DoesNotContain("sk-plaintext-canary", Encoding.UTF8.GetString(file));
        Assert.DoesNotContain("\"a\"", Encoding.UTF8.GetString(file));
        Assert.Equal(AtomicFile.PrivateFileMode, File.GetUnixFileMode(_root.SlotsFile));
        Assert.Equal(PrivateDirectory.Mode, File.GetUnixFileMode(_root.AuthDirectory));
        Assert.Equal(PrivateDirectory.Mode, File.GetUnixFileMode(_root.FullPath));
    }

    [Fact]
    public void Legacy_plaintext_is_read_without_a_key_and_encrypted_on_the_next_save()
    {
        Directory.CreateDirectory(_root.AuthDirectory);
        File.WriteAllText(_root.SlotsFile, """
            {"slots":{"old":{"slot_id":"old","provider":"anthropic","mode":"api_key","state":{"api_key":"sk-legacy"},"updated_at_ms":7}}}
            """);

        SlotStore readOnly = Load(key: null);
        Assert.Equal("sk-legacy", SlotStore.Load(_root, null).Value.Get(Id("old"))!.SecretValue());
        Assert.True(readOnly.IsLegacyPlaintext);

        SlotStore store = Load();
        store.Set(ApiKey("new", "sk-new"));

        Assert.True(EnvelopeCodec.IsEnvelope(File.ReadAllBytes(_root.SlotsFile)));
        Assert.DoesNotContain("sk-legacy", File.ReadAllText(_root.SlotsFile));
        Assert.Equal(["new", "old"], Load().List().Select(r => r.SlotId.Value));
        Assert.Equal(7, Load().Get(Id("old"))!.UpdatedAtMs);
    }

    [Fact]
    public void Saving_without_a_master_key_fails_says_how_to_set_it_and_changes_nothing()
    {
        Directory.CreateDirectory(_root.AuthDirectory);
        const string legacy = """{"slots":{}}""";
        File.WriteAllText(_root.SlotsFile, legacy);
        SlotStore store = SlotStore.Load(_root, null).Value;

        var result = store.Set(ApiKey("a", "sk-x"));

        Assert.Equal("master_key_required", result.Error?.Code);
        Assert.Contains(MasterKey.ValueVariable, result.Error!.Message);
        Assert.Contains("secrets generate", result.Error.Message);
        Assert.Equal(legacy, File.ReadAllText(_root.SlotsFile));
        Assert.Empty(store.List());
    }

    [Fact]
    public void An_encrypted_store_without_a_key_is_refused_on_load()
    {
        Load().Set(ApiKey("a", "sk-x"));

        Assert.Equal("master_key_required", SlotStore.Load(_root, null).Error?.Code);
    }

    [Fact]
    public void A_failed_write_leaves_memory_unchanged()
    {
        SlotStore store = Load();
        store.Set(ApiKey("a", "sk-1"));
        File.Delete(_root.SlotsFile);
        Directory.Delete(_root.AuthDirectory);
        File.WriteAllText(_root.AuthDirectory, "a file where the directory should be");

        var result = store.Set(ApiKey("b", "sk-2"));

        Assert.Equal("state_write_failed", result.Error?.Code);
        Assert.Equal(["a"], store.List().Select(r => r.SlotId.Value));
    }

    [Fact]
    public void Delete_removes_a_slot_and_reports_whether_it_existed()
    {
        SlotStore store = Load();
        store.Set(ApiKey("a", "sk-1"));

        Assert.True(store.Delete(Id("a")).Value);
        Assert.False(store.Delete(Id("a")).Value);
        Assert.Null(Load().Get(Id("a")));
    }

    [Fact]
    public void SlotChanged_fires_after_set_and_delete()
    {
        SlotStore store = Load();
        var changed = new List<string>();
        store.SlotChanged += id => changed.Add(id.Value);

        store.Set(ApiKey("a", "sk-1"));
        store.Delete(Id("a"));
        store.Delete(Id("a"));

        Assert.Equal(["a", "a"], changed);
    }

    [Fact]
    public void Concurrent_writers_lose_no_update()
    {
        SlotStore store = Load();

        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
            Assert.True(store.Set(ApiKey($"slot-{i}", $"sk-{i}")).IsOk));

        Assert.Equal(64, store.List().Count);
        Assert.Equal(64, Load().List().Count);
    }

    [Fact]
    public void A_flipped_byte_in_the_file_is_refused_and_the_file_kept()
    {
        Load().Set(ApiKey("a", "sk-1"));
        byte[] file = File.ReadAllBytes(_root.SlotsFile);
        int at = Encoding.UTF8.GetString(file).IndexOf("\"ciphertext\":\"", StringComparison.Ordinal) + 20;
        file[at] = (byte)(file[at] == 'A' ? 'B' : 'A');
        File.WriteAllBytes(_root.SlotsFile, file);

        var result = SlotStore.Load(_root, _key);

        Assert.Equal("envelope_tampered", result.Error?.Code);
        Assert.Equal(file, File.ReadAllBytes(_root.SlotsFile));
    }

    [Fact]
    public void Garbled_plaintext_is_reported_as_corrupt_without_echoing_content()
    {
        Directory.CreateDirectory(_root.AuthDirectory);
        File.WriteAllText(_root.SlotsFile, "{\"slots\":{\"a\":{\"slot_id\":\"a\",\"provider\":\"nope\",\"mode\":\"api_key\",\"state\":{\"api_key\":\"sk-garbled\"},\"updated_at_ms\":1}}}");

        var error = SlotStore.Load(_root, _key).Error!;

        Assert.Equal("state_file_corrupt", error.Code);
        Assert.Contains(_root.SlotsFile, error.Message);
        Assert.DoesNotContain("sk-garbled", error.Message);
    }

    [Fact]
    public void A_record_whose_key_differs_from_its_slot_id_is_corrupt()
    {
        Directory.CreateDirectory(_root.AuthDirectory);
        File.WriteAllText(_root.SlotsFile, "{\"slots\":{\"a\":{\"slot_id\":\"b\",\"provider\":\"openai\",\"mode\":\"api_key\",\"state\":{\"api_key\":\"k\"},\"updated_at_ms\":1}}}");

        Assert.Equal("state_file_corrupt", SlotStore.Load(_root, _key).Error?.Code);
    }

    [Fact]
    public void Plaintext_inside_the_envelope_is_the_slots_snapshot()
    {
        Load().Set(ApiKey("a", "sk-1"));

        byte[] plain = EnvelopeCodec.Open(File.ReadAllBytes(_root.SlotsFile), _key, SlotStore.Purpose).Value;
        using var doc = JsonDocument.Parse(plain);

        Assert.Equal("sk-1", doc.RootElement.GetProperty("slots").GetProperty("a").GetProperty("state").GetProperty("api_key").GetString());
    }

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_root.FullPath)!, recursive: true);

    private sealed class FixedTime(long ms) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(ms);
    }
}
