using System.Collections.Concurrent;
using System.Diagnostics;

namespace Kheish.Core.Mcp;

/// <summary>
/// Starts every supervised child from one dedicated thread that lives as long as the daemon.
/// PR_SET_PDEATHSIG fires when the creating <em>thread</em> exits, so children must not be
/// forked from pool threads, which come and go.
/// </summary>
internal sealed class ChildSpawner : IDisposable
{
    private readonly BlockingCollection<(ProcessStartInfo Info, TaskCompletionSource<Process> Done)> _queue = new();
    private readonly Thread _thread;

    public ChildSpawner()
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = "kheish-child-spawner" };
        _thread.Start();
    }

    public static ChildSpawner Shared { get; } = new();

    public Task<Process> StartAsync(ProcessStartInfo info)
    {
        var done = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        _queue.Add((info, done));
        return done.Task;
    }

    private void Loop()
    {
        foreach (var (info, done) in _queue.GetConsumingEnumerable())
        {
            try
            {
                done.SetResult(Process.Start(info) ?? throw new InvalidOperationException("process did not start"));
            }
#pragma warning disable CA1031 // Any start failure goes back to the caller that asked.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                done.SetException(ex);
            }
        }
    }

    public void Dispose() => _queue.CompleteAdding();
}
