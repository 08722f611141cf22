using FsCheck;
using FsCheck.Fluent;
using Kheish.Core.Limits;

namespace Kheish.Core.Tests.Limits;

public sealed class TokenBucketTests
{
    [Test]
    public async Task A_full_bucket_admits_a_burst_of_its_rate_then_refuses_with_the_wait_for_one_token()
    {
        var clock = new LimitsClock();
        var bucket = new TokenBucket(6, clock);
        for (int i = 0; i < 6; i++)
        {
            await Assert.That(bucket.TryTake(out _)).IsTrue();
        }

        await Assert.That(bucket.TryTake(out TimeSpan retry)).IsFalse();
        // 6 per minute: one token every 10 s.
        await Assert.That(retry).IsEqualTo(TimeSpan.FromSeconds(10));
    }

    [Test]
    public async Task After_the_retry_after_wait_the_next_request_passes_and_only_one()
    {
        var clock = new LimitsClock();
        var bucket = new TokenBucket(3, clock);
        for (int i = 0; i < 3; i++)
        {
            _ = bucket.TryTake(out _);
        }

        _ = bucket.TryTake(out TimeSpan retry);
        clock.Advance(retry);
        await Assert.That(bucket.TryTake(out _)).IsTrue();
        await Assert.That(bucket.TryTake(out _)).IsFalse();
    }

    [Test]
    public async Task An_idle_bucket_refills_to_its_burst_and_no_further()
    {
        var clock = new LimitsClock();
        var bucket = new TokenBucket(4, clock);
        _ = bucket.TryTake(out _);
        clock.Advance(TimeSpan.FromHours(1));
        int taken = 0;
        while (bucket.TryTake(out _))
        {
            taken++;
        }

        await Assert.That(taken).IsEqualTo(4);
    }

    [Test]
    public void Over_any_schedule_no_window_admits_more_than_burst_plus_refill()
    {
        // Any sequence of (gap, attempts): admitted requests in total never exceed
        // rate (the burst) + rate * elapsed minutes, and a refusal always names a positive wait.
        Gen<(int Rate, (int GapMs, int Attempts)[] Steps)> gen =
            from rate in Gen.Choose(1, 120)
            from steps in Gen.ArrayOf(Gen.Zip(Gen.Choose(0, 5000), Gen.Choose(0, 10)), 20)
            select (rate, steps);
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), Prop.ForAll(gen.ToArbitrary(), input =>
        {
            var clock = new LimitsClock();
            var bucket = new TokenBucket(input.Rate, clock);
            long admitted = 0;
            double elapsedMinutes = 0;
            foreach ((int gap, int attempts) in input.Steps)
            {
                clock.Advance(TimeSpan.FromMilliseconds(gap));
                elapsedMinutes += gap / 60_000.0;
                for (int i = 0; i < attempts; i++)
                {
                    if (bucket.TryTake(out TimeSpan retry))
                    {
                        admitted++;
                    }
                    else if (retry <= TimeSpan.Zero)
                    {
                        return false;
                    }
                }
            }

            return admitted <= input.Rate + Math.Floor(input.Rate * elapsedMinutes) + 1e-9;
        }));
    }
}
