using RocksDbSharp;

namespace Rampart.Rados.Osd.Store;

/// <summary>Raw key operations of one transaction, applied atomically.</summary>
public sealed class StoreBatch
{
    internal enum Kind : byte { Put, Delete, DeleteRange }

    internal readonly record struct Op(Kind Kind, byte[] Key, byte[]? Value);

    internal List<Op> Ops { get; } = [];

    public int Count => Ops.Count;

    public StoreBatch Put(byte[] key, byte[] value)
    {
        Ops.Add(new Op(Kind.Put, key, value));
        return this;
    }

    public StoreBatch Delete(byte[] key)
    {
        Ops.Add(new Op(Kind.Delete, key, null));
        return this;
    }

    /// <summary>Deletes every key in [<paramref name="start"/>, <paramref name="end"/>).</summary>
    public StoreBatch DeleteRange(byte[] start, byte[] end)
    {
        Ops.Add(new Op(Kind.DeleteRange, start, end));
        return this;
    }

    internal void ApplyTo(WriteBatch wb)
    {
        foreach (var op in Ops)
        {
            switch (op.Kind)
            {
                case Kind.Put: wb.Put(op.Key, op.Value!); break;
                case Kind.Delete: wb.Delete(op.Key); break;
                default: wb.DeleteRange(op.Key, (ulong)op.Key.Length, op.Value!, (ulong)op.Value!.Length); break;
            }
        }
    }
}

/// <summary>
/// Group commit: transactions queued while a synced write is in progress are merged into the next
/// single RocksDB write (one WAL fsync for all of them). Each caller's task completes once its
/// transaction is durable; a group that fails fails every task in it. Transactions are applied in
/// the order they were queued, each atomically, and a transaction is never split across groups.
/// </summary>
public sealed class CommitQueue : IDisposable
{
    private sealed record Item(StoreBatch Batch, TaskCompletionSource Done, Action<bool>? AfterWrite);

    private readonly RocksDb _db;
    private readonly WriteOptions _writeOptions;
    private readonly int _maxGroup;
    private readonly Queue<Item> _queue = new();
    private readonly object _lock = new();
    private readonly Thread _thread;
    private bool _closed;
    private long _groups;
    private long _transactions;

    public CommitQueue(RocksDb db, bool sync = true, int maxGroup = 256)
    {
        _db = db;
        _writeOptions = new WriteOptions().SetSync(sync);
        _maxGroup = Math.Max(1, maxGroup);
        _thread = new Thread(Run) { IsBackground = true, Name = "store-commit" };
        _thread.Start();
    }

    /// <summary>Synced writes done so far.</summary>
    public long Groups => Interlocked.Read(ref _groups);

    /// <summary>Transactions committed so far.</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    /// <summary>Queues <paramref name="batch"/>; the task completes when it is durable.</summary>
    public Task CommitAsync(StoreBatch batch) => Enqueue(batch, null);

    /// <summary><paramref name="afterWrite"/> runs on the commit thread after the write (true) or its failure (false).</summary>
    internal Task Enqueue(StoreBatch batch, Action<bool>? afterWrite)
    {
        var item = new Item(batch, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), afterWrite);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            _queue.Enqueue(item);
            if (_queue.Count == 1) Monitor.Pulse(_lock);
        }
        return item.Done.Task;
    }

    private void Run()
    {
        var group = new List<Item>(_maxGroup);
        while (true)
        {
            group.Clear();
            lock (_lock)
            {
                while (_queue.Count == 0 && !_closed) Monitor.Wait(_lock);
                if (_queue.Count == 0) return;
                while (_queue.Count > 0 && group.Count < _maxGroup) group.Add(_queue.Dequeue());
            }
            Exception? failure = null;
            try
            {
                using var wb = new WriteBatch();
                foreach (var item in group) item.Batch.ApplyTo(wb);
                _db.Write(wb, _writeOptions);
            }
            catch (Exception e)
            {
                failure = e;
            }
            Interlocked.Increment(ref _groups);
            Interlocked.Add(ref _transactions, group.Count);
            foreach (var item in group)
            {
                try { item.AfterWrite?.Invoke(failure is null); }
                catch (Exception e) { failure ??= e; }
                if (failure is null) item.Done.TrySetResult();
                else item.Done.TrySetException(new IOException("store commit failed", failure));
            }
        }
    }

    /// <summary>Commits what is queued, then stops the commit thread.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_closed) return;
            _closed = true;
            Monitor.PulseAll(_lock);
        }
        _thread.Join();
    }
}
