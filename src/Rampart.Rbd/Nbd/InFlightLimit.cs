namespace Rampart.Rbd.Nbd;

/// <summary>
/// Bounds the requests (and their payload bytes) one connection serves at once. Only the connection's reader loop
/// enters and drains, so at most one waiter exists; completions exit from any thread.
/// </summary>
internal sealed class InFlightLimit(int maxRequests, long maxBytes)
{
    private readonly Lock _lock = new();
    private int _requests;
    private long _bytes;
    private TaskCompletionSource? _changed;

    public int Requests
    {
        get { lock (_lock) return _requests; }
    }

    /// <summary>Waits for room; a request alone is always admitted, so a payload above the byte budget still proceeds.</summary>
    public async ValueTask EnterAsync(long bytes, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_requests == 0 || (_requests < maxRequests && _bytes + bytes <= maxBytes))
                {
                    _requests++;
                    _bytes += bytes;
                    return;
                }
                changed = (_changed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Exit(long bytes)
    {
        TaskCompletionSource? changed;
        lock (_lock)
        {
            _requests--;
            _bytes -= bytes;
            changed = _changed;
            _changed = null;
        }
        changed?.TrySetResult();
    }

    /// <summary>Completes when every admitted request has exited.</summary>
    public async Task DrainAsync()
    {
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_requests == 0) return;
                changed = (_changed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
            await changed.ConfigureAwait(false);
        }
    }
}
