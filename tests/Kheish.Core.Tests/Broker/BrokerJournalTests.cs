using Kheish.Core.Broker;
using Kheish.Core.Errors;

namespace Kheish.Core.Tests.Broker;

/// <summary>Durable changes go to an fsynced journal; snapshots compact it.</summary>
public sealed class BrokerJournalTests : IDisposable
{
    private static readonly RouteAudience OpenAi = new("openai", "openai.default");
    private readonly BrokerFixture _f = new();

    [Test]
    public async Task Revocation_is_in_the_journal_before_it_returns_and_not_in_the_snapshot()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.Flush();

        _f.Broker.RevokeLease(LeaseId.Parse(issued.Lease.Id).Value);

        await Assert.That(File.ReadAllText(_f.JournalPath)).Contains(issued.Lease.Id);
        await Assert.That(File.ReadAllText(_f.StatePath)).DoesNotContain("\"revoked_leases\":{\"" + issued.Lease.Id);
        await Assert.That(File.GetUnixFileMode(_f.JournalPath)).IsEqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    [Test]
    public async Task Flush_compacts_the_journal_into_the_snapshot()
    {
        _f.Broker.RevokeSlot("openai.default");

        await Assert.That(_f.Broker.Flush()).IsNull();

        await Assert.That(new FileInfo(_f.JournalPath).Length).IsEqualTo(0);
        await Assert.That(File.ReadAllText(_f.StatePath)).Contains("\"revoked_slots\":{\"openai.default\"");
        await Assert.That(_f.Reopen().CheckSlot("openai.default")?.Code).IsEqualTo(BrokerErrors.SlotRevoked);
    }

    [Test]
    public async Task Journal_is_compacted_after_enough_records_so_it_stays_bounded()
    {
        for (int i = 0; i < CredentialBroker.CompactEvery + 10; i++)
        {
            _f.Broker.RevokeSlot("slot" + i);
        }

        await Assert.That(File.ReadAllLines(_f.JournalPath).Length).IsEqualTo(10);
        await Assert.That(File.ReadAllText(_f.StatePath).Split("\"slot").Length - 1).IsEqualTo(CredentialBroker.CompactEvery);
        await Assert.That(_f.Reopen().CheckSlot("slot" + (CredentialBroker.CompactEvery + 9))?.Code).IsEqualTo(BrokerErrors.SlotRevoked);
    }

    [Test]
    public async Task Replaying_a_journal_already_in_the_snapshot_changes_nothing()
    {
        // A crash between writing the snapshot and emptying the journal replays old records.
        _f.Broker.BumpSubjectEpoch(BrokerFixture.Agent);
        _f.Broker.RevokeSubject(BrokerFixture.Agent);
        _f.Broker.RevokeSlot("s");
        _f.Broker.OnSlotRewritten("s");
        byte[] journal = File.ReadAllBytes(_f.JournalPath);
        _f.Broker.Flush();
        File.WriteAllBytes(_f.JournalPath, journal);

        CredentialBroker reopened = _f.Reopen();

        await Assert.That(reopened.GetSubjectStatus(BrokerFixture.Agent).CurrentEpoch).IsEqualTo(2);
        await Assert.That(reopened.IsSubjectRevoked(BrokerFixture.Agent)).IsTrue();
        await Assert.That(reopened.CheckSlot("s")).IsNull();
    }

    [Test]
    public async Task Torn_last_record_is_ignored_and_cut_before_the_next_append()
    {
        _f.Broker.RevokeSlot("kept");
        File.AppendAllText(_f.JournalPath, "{\"op\":\"revoke_sl");

        CredentialBroker reopened = _f.Reopen();
        reopened.RevokeSlot("after");
        CredentialBroker again = _f.Reopen();

        await Assert.That(again.CheckSlot("kept")?.Code).IsEqualTo(BrokerErrors.SlotRevoked);
        await Assert.That(again.CheckSlot("after")?.Code).IsEqualTo(BrokerErrors.SlotRevoked);
        await Assert.That(File.ReadAllLines(_f.JournalPath).Length).IsEqualTo(2);
    }

    [Test]
    public async Task Corrupt_complete_record_is_refused_naming_the_journal()
    {
        _f.Broker.RevokeSlot("kept");
        File.AppendAllText(_f.JournalPath, "{\"op\":\"revoke_sl\n");

        var result = CredentialBroker.Open(_f.StatePath, PlainStateFileCodec.Instance, _f.Clock);

        await Assert.That(result.Error?.Kind).IsEqualTo(ErrorKind.Misconfigured);
        await Assert.That(result.Error!.Message).Contains(_f.JournalPath);
    }

    [Test]
    public async Task Revocation_of_an_unflushed_lease_survives_a_crash()
    {
        IssuedLease issued = _f.IssueRoute();
        _f.Broker.Flush();
        IssuedLease later = _f.IssueRoute("anthropic", "anthropic.default");

        _f.Broker.RevokeSubject(BrokerFixture.Agent);
        CredentialBroker reopened = _f.Reopen();

        await Assert.That(reopened.Validate(issued.Token, OpenAi).Error?.Code).IsEqualTo(BrokerErrors.SubjectRevoked);
        await Assert.That(reopened.Validate(later.Token, new RouteAudience("anthropic", "anthropic.default")).Error?.Code).IsEqualTo(BrokerErrors.LeaseUnknown);
    }

    [Test]
    public async Task Concurrent_revocations_and_rewrites_replay_to_the_state_in_memory()
    {
        string[] slots = Enumerable.Range(0, 6).Select(i => "slot" + i).ToArray();
        Parallel.For(0, 6 * 40, i =>
        {
            string slot = slots[i % slots.Length];
            if (i % 3 == 0)
            {
                _f.Broker.OnSlotRewritten(slot);
            }
            else
            {
                _f.Broker.RevokeSlot(slot);
            }
        });
        string?[] live = slots.Select(s => _f.Broker.CheckSlot(s)?.Code).ToArray();

        CredentialBroker reopened = _f.Reopen();

        await Assert.That(slots.Select(s => reopened.CheckSlot(s)?.Code).ToArray()).IsEquivalentTo(live, CollectionOrdering.Matching);
    }

    [Test]
    public async Task Codec_output_with_newlines_is_wrapped_and_read_back()
    {
        using var f = new BrokerFixture(new MultiLineCodec());
        f.Broker.RevokeSlot("a");
        f.Broker.RevokeSlot("b");

        CredentialBroker reopened = f.Reopen();

        await Assert.That(File.ReadAllLines(f.JournalPath).Length).IsEqualTo(2);
        foreach (string line in File.ReadAllLines(f.JournalPath))
        {
            await Assert.That(line).StartsWith("b64:");
        }

        await Assert.That(reopened.CheckSlot("b")?.Code).IsEqualTo(BrokerErrors.SlotRevoked);
    }

    public void Dispose() => _f.Dispose();

    /// <summary>An envelope that spans lines, like pretty-printed JSON.</summary>
    private sealed class MultiLineCodec : IStateFileCodec
    {
        public bool IsPlain => false;

        public byte[] Encode(byte[] json, string purpose) => [.. "envelope\n"u8, .. json];

        public Result<byte[]> Decode(byte[] file, string purpose) =>
            file.AsSpan().StartsWith("envelope\n"u8) ? file[9..] : KheishError.Misconfigured("bad_envelope", "not an envelope");
    }
}
