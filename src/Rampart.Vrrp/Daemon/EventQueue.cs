namespace Rampart.Vrrp.Daemon;

/// <summary>
/// Work for the daemon's one event-loop thread. The loop sleeps in Monitor.Wait until work arrives or its next
/// timer is due: no thread-pool hop and no spinning per advert, so an idle daemon costs next to no CPU.
/// </summary>
internal sealed class EventQueue
{
    private readonly Queue<Func<Task>> _queue = new();
    private readonly object _gate = new();
    private bool _stopped;

    public void Post(Func<Task> work)
    {
        lock (_gate)
        {
            _queue.Enqueue(work);
            Monitor.Pulse(_gate);
        }
    }

    public void Stop()
    {
        lock (_gate)
        {
            _stopped = true;
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>Waits until work is queued, the timeout passes (null: no timeout) or Stop; returns what is queued.</summary>
    public Func<Task>[] Take(TimeSpan? timeout)
    {
        lock (_gate)
        {
            if (_queue.Count == 0 && !_stopped && timeout is not { Ticks: <= 0 })
            {
                // Rounded up to whole milliseconds, so the loop never wakes just before its deadline.
                Monitor.Wait(_gate, timeout is { } t ? TimeSpan.FromMilliseconds(Math.Ceiling(t.TotalMilliseconds)) : Timeout.InfiniteTimeSpan);
            }
            var work = _queue.ToArray();
            _queue.Clear();
            return work;
        }
    }
}
