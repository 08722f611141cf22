using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Broker;

namespace Kheish.Core.Tests.Broker;

/// <summary>
/// Random sequences of broker operations, then a "crash" (reopen from the files without a
/// final flush): every durable fact survives, and no lease comes back to life.
/// </summary>
public sealed class BrokerDurabilityPropertyTests
{
    private static readonly string[] Subjects = ["agent:a", "agent:b", "session:s"];
    private static readonly string[] Slots = ["slot.x", "slot.y"];

    private static readonly Gen<(int Op, int Arg)> OpGen = Gen.Zip(Gen.Choose(0, 7), Gen.Choose(0, 99));

    [Test]
    public void Reopening_after_any_operation_sequence_keeps_every_durable_fact()
    {
        var sequences = Gen.ListOf(OpGen).Select(l => l.ToArray()).ToArbitrary();
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(60), Prop.ForAll(sequences, ops =>
        {
            using var f = new BrokerFixture();
            var flushed = new List<(IssuedLease Lease, RouteAudience Audience)>();
            var unflushed = new List<(IssuedLease Lease, RouteAudience Audience)>();
            foreach (var (op, arg) in ops)
            {
                SubjectId subject = SubjectId.Parse(Subjects[arg % Subjects.Length]).Value;
                string slot = Slots[arg % Slots.Length];
                var all = flushed.Concat(unflushed).ToList();
                switch (op)
                {
                    case 0 or 1:
                        var issued = f.Broker.IssueRouteLease(subject, CredentialScope.Unrestricted, "r", slot, TimeSpan.FromSeconds(1 + (arg % 30)));
                        if (issued.IsOk)
                        {
                            unflushed.Add((issued.Value, new RouteAudience("r", slot)));
                        }

                        break;
                    case 2:
                        f.Broker.RevokeSubject(subject);
                        break;
                    case 3 when all.Count > 0:
                        f.Broker.RevokeLease(LeaseId.Parse(all[arg % all.Count].Lease.Lease.Id).Value);
                        break;
                    case 4:
                        f.Broker.RevokeSlot(slot);
                        break;
                    case 5:
                        f.Broker.OnSlotRewritten(slot);
                        break;
                    case 6:
                        f.Broker.BumpSubjectEpoch(subject);
                        break;
                    case 7:
                        f.Broker.Flush();
                        flushed.AddRange(unflushed);
                        unflushed.Clear();
                        break;
                }

                f.Clock.Advance(TimeSpan.FromMilliseconds(arg * 10));
            }

            CredentialBroker live = f.Broker;
            var liveSubjects = Subjects.Select(s => live.GetSubjectStatus(SubjectId.Parse(s).Value)).Select(s => (s.CurrentEpoch, s.Revoked)).ToList();
            var liveSlots = Slots.Select(s => live.CheckSlot(s)?.Code).ToList();
            var liveFlushed = flushed.Select(l => live.Validate(l.Lease.Token, l.Audience).IsOk).ToList();

            CredentialBroker reopened = f.Reopen();

            return liveSubjects.SequenceEqual(Subjects.Select(s => reopened.GetSubjectStatus(SubjectId.Parse(s).Value)).Select(s => (s.CurrentEpoch, s.Revoked)))
                && liveSlots.SequenceEqual(Slots.Select(s => reopened.CheckSlot(s)?.Code))
                && liveFlushed.SequenceEqual(flushed.Select(l => reopened.Validate(l.Lease.Token, l.Audience).IsOk))
                && unflushed.All(l => !reopened.Validate(l.Lease.Token, l.Audience).IsOk);
        }));
    }
}
