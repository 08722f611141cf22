using System.Diagnostics;
using Kheish.Core.Audit;
using TUnit.Assertions.Enums;

namespace Kheish.Core.Tests.Audit;

public class WorkQueueTests
{
    [Test]
    public async Task Items_come_out_in_the_order_they_went_in()
    {
        var queue = new WorkQueue<int>();
        for (int i = 0; i < 5; i++)
        {
            await Assert.That(queue.TryAdd(i)).IsTrue();
        }

        var taken = new List<int>();
        while (queue.TryTake(out int item))
        {
            taken.Add(item);
        }

        await Assert.That(taken).IsEquivalentTo([0, 1, 2, 3, 4], CollectionOrdering.Matching);
    }

    [Test]
    public async Task An_empty_take_without_a_wait_returns_at_once_and_a_timed_one_after_its_timeout()
    {
        var queue = new WorkQueue<string>();
        await Assert.That(queue.TryTake(out _)).IsFalse();

        var clock = Stopwatch.StartNew();
        bool took = queue.TryTake(out _, 150);
        clock.Stop();

        await Assert.That(took).IsFalse();
        await Assert.That(clock.ElapsedMilliseconds >= 140).IsTrue().Because($"returned after {clock.ElapsedMilliseconds} ms");
    }

    [Test]
    public async Task A_waiting_consumer_is_woken_by_an_add()
    {
        var queue = new WorkQueue<string>();
        Task<string?> consumer = Task.Factory.StartNew(
            () => queue.TryTake(out string item, Timeout.Infinite) ? item : null, TaskCreationOptions.LongRunning);
        await Task.Delay(100);
        await Assert.That(consumer.IsCompleted).IsFalse();

        queue.TryAdd("batch");

        await Assert.That(await consumer.WaitAsync(TimeSpan.FromSeconds(10))).IsEqualTo("batch");
    }

    [Test]
    public async Task Completing_drains_what_is_queued_then_stops_consumers_and_refuses_adds()
    {
        var queue = new WorkQueue<int>();
        Task<List<int>> consumer = Task.Factory.StartNew(() => queue.GetConsumingEnumerable().ToList(), TaskCreationOptions.LongRunning);
        queue.TryAdd(1);
        queue.TryAdd(2);
        queue.CompleteAdding();

        await Assert.That(await consumer.WaitAsync(TimeSpan.FromSeconds(10))).IsEquivalentTo([1, 2], CollectionOrdering.Matching);
        await Assert.That(queue.TryAdd(3)).IsFalse();
        await Assert.That(queue.IsCompleted).IsTrue();
        await Assert.That(queue.TryTake(out _, Timeout.Infinite)).IsFalse();
    }

    [Test]
    public async Task Many_producers_and_consumers_lose_and_duplicate_nothing()
    {
        var queue = new WorkQueue<int>();
        const int PerProducer = 5_000;
        Task<List<int>>[] consumers = [.. Enumerable.Range(0, 3).Select(_ =>
            Task.Factory.StartNew(() => queue.GetConsumingEnumerable().ToList(), TaskCreationOptions.LongRunning))];
        Task[] producers = [.. Enumerable.Range(0, 4).Select(p => Task.Run(() =>
        {
            for (int i = 0; i < PerProducer; i++)
            {
                queue.TryAdd(p * PerProducer + i);
            }
        }))];
        await Task.WhenAll(producers);
        queue.CompleteAdding();

        List<int>[] taken = await Task.WhenAll(consumers).WaitAsync(TimeSpan.FromSeconds(30));
        int[] all = [.. taken.SelectMany(t => t).Order()];

        await Assert.That(all).IsEquivalentTo(Enumerable.Range(0, 4 * PerProducer).ToArray(), CollectionOrdering.Matching);
    }
}
