namespace Rampart.Common.Threading;

/// <summary>
/// Turns concurrent single requests into batches, like group commit: the first request starts a batch at once, and
/// whatever arrives while a batch is in flight goes together in the next one. Results come back in request order.
/// </summary>
public sealed class Batcher<TIn, TOut>(Func<IReadOnlyList<TIn>, CancellationToken, Task<IReadOnlyList<TOut>>> run, CancellationToken stopping)
{
    private readonly Lock _lock = new();
    private List<(TIn Item, TaskCompletionSource<TOut> Done)> _queue = [];
    private bool _running;

    public Task<TOut> RunAsync(TIn item, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<TOut>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool start;
        lock (_lock)
        {
            _queue.Add((item, done));
            start = !_running;
            _running = true;
        }
        if (start)
            _ = Task.Run(LoopAsync, CancellationToken.None);
        return done.Task.WaitAsync(cancellationToken);
    }

    private async Task LoopAsync()
    {
        while (true)
        {
            List<(TIn Item, TaskCompletionSource<TOut> Done)> batch;
            lock (_lock)
            {
                if (_queue.Count == 0)
                {
                    _running = false;
                    return;
                }
                batch = _queue;
                _queue = [];
            }
            try
            {
                var results = await run([.. batch.Select(b => b.Item)], stopping).ConfigureAwait(false);
                if (results.Count != batch.Count)
                    throw new InvalidOperationException($"a batch of {batch.Count} got {results.Count} results");
                for (int i = 0; i < batch.Count; i++)
                    batch[i].Done.TrySetResult(results[i]);
            }
            catch (Exception e)
            {
                foreach (var (_, done) in batch)
                    done.TrySetException(e);
            }
        }
    }
}
