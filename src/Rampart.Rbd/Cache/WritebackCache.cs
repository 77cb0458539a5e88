using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rampart.Rbd.Nbd;

namespace Rampart.Rbd.Cache;

/// <summary>
/// librbd's writeback cache (rbd_cache = true) in front of an image: a write is acknowledged once it is buffered
/// here, and reaches the image later — in the background when it is older than rbd_cache_max_dirty_age or the
/// buffered bytes pass rbd_cache_target_dirty, and at the latest on the next FLUSH. One instance per image per
/// process, shared by every connection to it, so that a FLUSH on any connection covers writes completed on all.
/// </summary>
/// <remarks>
/// <para>Guarantees, in NBD's terms:</para>
/// <list type="bullet">
/// <item>A read returns the newest completed write of every byte: buffered bytes are laid over what the image holds.</item>
/// <item>FLUSH returns once every write completed before it was received is on the image, and the image has been
/// flushed. A write with FUA, WRITE_ZEROES and TRIM go to the image before they complete.</item>
/// <item>Two writes of the same byte reach the image in the order they were made: a device write is not started
/// while an older one overlapping it is still running, and buffered bytes a newer write replaced are never written.
/// So neither a FUA write, nor zeroing, nor trimming can be overtaken by older buffered data.</item>
/// <item>At most rbd_cache_max_dirty bytes are acknowledged and not yet on the image; a writer waits beyond that.
/// With rbd_cache_max_dirty = 0 every write goes through (write-through), and with
/// rbd_cache_writethrough_until_flush until the client's first FLUSH.</item>
/// <item>A failed write-back is never dropped: the bytes stay buffered and are tried again (after
/// <see cref="RetryDelay"/> in the background, at once by a FLUSH), and the first failure since the last FLUSH that
/// reported one is returned by the next FLUSH on any connection — even if a retry has since succeeded, since the
/// client may have relied on the write in between.</item>
/// <item>Dispose writes out what is buffered and flushes the image; what cannot be written then is logged as lost.</item>
/// </list>
/// <para>Written bytes stay cached (clean) after write-back, up to rbd_cache_size with the dirty ones, oldest
/// evicted first, so recently written data is read back from memory; bytes read from the image are not cached.
/// The cache assumes it is the image's only writer, as librbd's does with exclusive-lock.</para>
/// </remarks>
public sealed partial class WritebackCache : IBlockDevice
{
    /// <summary>Adjacent buffered writes are written out as one device write up to this size.</summary>
    internal const int MaxRunBytes = 4 << 20;

    /// <summary>Write-backs running on the device at once.</summary>
    internal const int MaxWritebacks = 16;

    /// <summary>After a failed write-back the background flusher waits this long before trying again.</summary>
    public static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private readonly IBlockDevice _device;
    private readonly RbdCacheConfig _config;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly ExtentMap _map = new();

    /// <summary>Device writes started and not finished; a new one waits for every older one it overlaps.</summary>
    private readonly List<DeviceOp> _inFlight = [];

    /// <summary>A record of every write that has Dirty bytes, oldest first (plus stale ones, skipped).</summary>
    private readonly LinkedList<WriteRecord> _dirtyQueue = new();

    /// <summary>A record of every write that has Clean bytes, oldest first: evicted in this order.</summary>
    private Queue<WriteRecord> _cleanQueue = new();

    private readonly SemaphoreSlim _writebackSlots = new(MaxWritebacks, MaxWritebacks);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _flusher;
    private TaskCompletionSource _room = NewSignal();
    private TaskCompletionSource _wake = NewSignal();
    private long _seq, _opIds;
    private volatile bool _flushSeen;
    private Exception? _writebackError;
    private int _blockedWriters;
    private long _retryAt;
    private bool _flusherIdle;
    private int _disposed;

    /// <summary>Takes over <paramref name="device"/>: it is flushed and disposed with the cache.</summary>
    public WritebackCache(IBlockDevice device, RbdCacheConfig config, string name = "image", CachePerf? perf = null,
        ILogger? logger = null, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(config.MaxDirty, nameof(config.MaxDirty));
        ArgumentOutOfRangeException.ThrowIfNegative(config.TargetDirty, nameof(config.TargetDirty));
        ArgumentOutOfRangeException.ThrowIfNegative(config.Size, nameof(config.Size));
        _device = device;
        _config = config;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        Name = name;
        Perf = perf ?? new CachePerf(CachePerf.SectionName(name));
        Perf.Attach(this);
        _flusher = Task.Run(() => FlushInBackgroundAsync(_stop.Token));
    }

    public string Name { get; }

    public CachePerf Perf { get; }

    public RbdCacheConfig Config => _config;

    public long Size => _device.Size;

    public bool ReadOnly => _device.ReadOnly;

    /// <summary>Acknowledged bytes not yet on the image.</summary>
    public long DirtyBytes
    {
        get { lock (_lock) return _map.DirtyBytes; }
    }

    /// <summary>The part of <see cref="DirtyBytes"/> being written out now.</summary>
    public long FlushingBytes
    {
        get { lock (_lock) return _map.FlushingBytes; }
    }

    /// <summary>Bytes on the image kept to answer reads.</summary>
    public long CleanBytes
    {
        get { lock (_lock) return _map.CleanBytes; }
    }

    /// <summary>Writes go through: no write-back at all (max dirty 0), or until the first FLUSH.</summary>
    private bool WritingThrough => _config.MaxDirty == 0 || (_config.WritethroughUntilFlush && !_flushSeen);

    // ---- reads ---------------------------------------------------------------------------------

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        CheckRange(offset, buffer.Length);
        if (buffer.IsEmpty) return;
        long end = offset + buffer.Length;
        // Taken before the image is read: a write completed before this read is either in these segments or was on
        // the image before it left the map, so the image read below sees it.
        List<Segment> overlay;
        lock (_lock) overlay = _map.Overlapping(offset, end);
        long gapStart = -1, gapEnd = -1, position = offset;
        foreach (var s in overlay)
        {
            if (s.Offset > position)
            {
                if (gapStart < 0) gapStart = position;
                gapEnd = s.Offset;
            }
            position = Math.Max(position, s.End);
        }
        if (position < end)
        {
            if (gapStart < 0) gapStart = position;
            gapEnd = end;
        }
        if (gapStart < 0)
        {
            Perf.Hit(buffer.Length);
        }
        else
        {
            // One image read from the first byte the cache lacks to the last: the overlay below covers the rest.
            await _device.ReadAsync(gapStart, buffer.Slice((int)(gapStart - offset), (int)(gapEnd - gapStart)), cancellationToken).ConfigureAwait(false);
            Perf.Miss(buffer.Length, gapEnd - gapStart);
        }
        foreach (var s in overlay)
            Overlay(s, offset, buffer.Span);
    }

    /// <summary>The image's ranges plus every cached one (dirty or not: saying data is always allowed).</summary>
    public async ValueTask<IReadOnlyList<(long Offset, long Length)>> AllocatedAsync(long offset, long length, CancellationToken cancellationToken)
    {
        CheckRange(offset, length);
        // Taken before the image is asked, as for a read: a completed write is in these segments or already on the image.
        List<Segment> overlay;
        lock (_lock) overlay = _map.Overlapping(offset, offset + length);
        var image = await _device.AllocatedAsync(offset, length, cancellationToken).ConfigureAwait(false);
        return BlockRanges.Union(image.Concat(overlay.Select(s => (s.Offset, s.Length))), offset, offset + length);
    }

    private static void Overlay(Segment s, long offset, Span<byte> buffer)
    {
        long from = Math.Max(s.Offset, offset), to = Math.Min(s.End, offset + buffer.Length);
        if (from < offset || to > offset + buffer.Length || from >= to) return;
        var target = buffer.Slice((int)(from - offset), (int)(to - from));
        if (s.Buffer is null) target.Clear();
        else s.Buffer.AsSpan(s.BufferOffset + (int)(from - s.Offset), target.Length).CopyTo(target);
    }

    // ---- writes --------------------------------------------------------------------------------

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        CheckWritable(offset, data.Length);
        if (data.IsEmpty) return;
        var copy = data.ToArray(); // the caller's buffer is reused once this returns
        if (fua || data.Length > _config.MaxDirty || WritingThrough)
        {
            await DirectAsync(DirectKind.Write, offset, data.Length, copy, fua, cancellationToken).ConfigureAwait(false);
            Perf.WrittenThrough(data.Length);
            return;
        }
        bool blocked = false;
        long blockedAt = 0;
        try
        {
            while (true)
            {
                Task room;
                lock (_lock)
                {
                    if (_map.DirtyBytes == 0 || _map.DirtyBytes + data.Length <= _config.MaxDirty)
                    {
                        Buffer(offset, copy);
                        break;
                    }
                    if (!blocked)
                    {
                        blocked = true;
                        blockedAt = _time.GetTimestamp();
                        _blockedWriters++;
                        Perf.Blocked(data.Length);
                    }
                    room = _room.Task;
                    Wake(); // the flusher writes out everything while a writer waits
                }
                await room.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            if (blocked)
            {
                lock (_lock) _blockedWriters--;
                Perf.Unblocked(_time.GetElapsedTime(blockedAt));
            }
        }
        Perf.Buffered(data.Length);
    }

    /// <summary>Under the lock: the write becomes the newest content of its range, acknowledged and dirty.</summary>
    private void Buffer(long offset, byte[] data)
    {
        var segment = new Segment(offset, data.Length, data, 0, ++_seq, _time.GetTimestamp(), SegmentState.Dirty, 0);
        _map.Insert(segment);
        _dirtyQueue.AddLast(new WriteRecord(segment.Seq, segment.Offset, segment.End, segment.Dirtied));
        EvictClean();
        if (_flusherIdle || _map.DirtyBytes - _map.FlushingBytes > _config.TargetDirty) Wake();
    }

    public ValueTask WriteZeroesAsync(long offset, long length, bool fua, CancellationToken cancellationToken)
    {
        CheckWritable(offset, length);
        return length == 0 ? ValueTask.CompletedTask : DirectAsync(DirectKind.Zero, offset, length, null, fua, cancellationToken);
    }

    public ValueTask TrimAsync(long offset, long length, CancellationToken cancellationToken)
    {
        CheckWritable(offset, length);
        return length == 0 ? ValueTask.CompletedTask : DirectAsync(DirectKind.Trim, offset, length, null, false, cancellationToken);
    }

    private enum DirectKind { Write, Zero, Trim }

    /// <summary>
    /// A write that reaches the image before it completes. It replaces older buffered bytes of its range at once
    /// (they are never written), reads see it while it runs, and it starts on the image only after every older
    /// device write overlapping it has finished.
    /// </summary>
    private async ValueTask DirectAsync(DirectKind kind, long offset, long length, byte[]? data, bool fua, CancellationToken cancellationToken)
    {
        DeviceOp op;
        Task[] earlier;
        lock (_lock)
        {
            long dirty = _map.DirtyBytes;
            (op, earlier) = Register(offset, offset + length, writeback: false);
            _map.Insert(new Segment(offset, length, data, 0, ++_seq, _time.GetTimestamp(), SegmentState.Direct, op.Id));
            if (_map.DirtyBytes < dirty) SignalRoom();
        }
        bool done = false;
        try
        {
            if (earlier.Length > 0) await Task.WhenAll(earlier).WaitAsync(cancellationToken).ConfigureAwait(false);
            switch (kind)
            {
                case DirectKind.Write:
                    await _device.WriteAsync(offset, data, fua, cancellationToken).ConfigureAwait(false);
                    break;
                case DirectKind.Zero:
                    await _device.WriteZeroesAsync(offset, length, fua, cancellationToken).ConfigureAwait(false);
                    break;
                case DirectKind.Trim:
                    await _device.TrimAsync(offset, length, cancellationToken).ConfigureAwait(false);
                    break;
            }
            done = true;
        }
        finally
        {
            lock (_lock)
            {
                // Written bytes stay to answer reads; zeros, and a write that failed (its range is undefined), go.
                foreach (var s in _map.Overlapping(op.Start, op.End))
                {
                    if (s.Op != op.Id || s.State != SegmentState.Direct) continue;
                    if (done && s.IsData)
                    {
                        _map.SetState(s, SegmentState.Clean);
                        _cleanQueue.Enqueue(new WriteRecord(s.Seq, s.Offset, s.End, s.Dirtied));
                    }
                    else
                    {
                        _map.Remove(s);
                    }
                }
                _inFlight.Remove(op);
                EvictClean();
            }
            op.Done.TrySetResult();
        }
    }

    // ---- flush ---------------------------------------------------------------------------------

    /// <summary>
    /// Writes out everything buffered, waits for write-backs already running, then flushes the image. Fails with the
    /// first write-back error since the last FLUSH that reported one (the failed bytes stay buffered).
    /// </summary>
    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        List<Writeback> runs;
        Task[] pending;
        lock (_lock)
        {
            _flushSeen = true;
            runs = PrepareWritebacks(TakeDirty(all: true, 0, out _));
            pending = [.. _inFlight.Where(o => o.Writeback).Select(o => o.Done.Task)];
        }
        Launch(runs);
        await Task.WhenAll(pending).WaitAsync(cancellationToken).ConfigureAwait(false);
        Exception? failed;
        lock (_lock)
        {
            failed = _writebackError;
            _writebackError = null;
        }
        if (failed is not null)
        {
            Perf.FlushFailed();
            throw new BlockDeviceException(failed is BlockDeviceException b ? b.Errno : BlockDeviceException.EIO,
                $"writing back cached writes of {Name} failed: {failed.Message} (the bytes are kept and written again)");
        }
        await _device.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    // ---- bookkeeping ---------------------------------------------------------------------------

    /// <summary>Under the lock: a device write of [start, end), and the older ones overlapping it it must wait for.</summary>
    private (DeviceOp Op, Task[] Earlier) Register(long start, long end, bool writeback)
    {
        var op = new DeviceOp(++_opIds, start, end, writeback);
        var earlier = new List<Task>();
        foreach (var o in _inFlight)
            if (o.Start < end && start < o.End) earlier.Add(o.Done.Task);
        _inFlight.Add(op);
        return (op, [.. earlier]);
    }

    /// <summary>Under the lock: clean bytes beyond what rbd_cache_size leaves beside the dirty ones go, oldest first.</summary>
    private void EvictClean()
    {
        long budget = Math.Max(0, _config.Size - _map.DirtyBytes);
        while (_map.CleanBytes > budget && _cleanQueue.TryDequeue(out var r))
            foreach (var s in _map.Overlapping(r.Offset, r.End))
                if (s.Seq == r.Seq && s.State == SegmentState.Clean) _map.Remove(s);
        // Records of bytes overwritten since pile up when nothing is evicted: keep the queue near the map's size.
        if (_cleanQueue.Count > 2 * _map.Count + 1024)
            _cleanQueue = new Queue<WriteRecord>(_cleanQueue.Where(r =>
                _map.Overlapping(r.Offset, r.End).Any(s => s.Seq == r.Seq && s.State == SegmentState.Clean)));
    }

    /// <summary>Under the lock: buffered bytes went (written, replaced): wake writers waiting for room.</summary>
    private void SignalRoom()
    {
        _room.TrySetResult();
        _room = NewSignal();
    }

    /// <summary>Under the lock: the flusher looks again at what is dirty.</summary>
    private void Wake() => _wake.TrySetResult();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > Size)
            throw new BlockDeviceException(BlockDeviceException.EINVAL, $"range {offset}+{length} is outside {Name} ({Size} bytes)");
    }

    private void CheckWritable(long offset, long length)
    {
        if (ReadOnly)
            throw new BlockDeviceException(BlockDeviceException.EPERM, $"{Name} is read-only");
        CheckRange(offset, length);
    }

    /// <summary>Stops the flusher, writes out everything buffered (twice, if the first try fails), disposes the image.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _flusher.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // A flusher bug must not keep the buffered bytes from being written out below.
            CacheLog.FlusherFailed(_logger, e, Name);
        }
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await FlushAsync(CancellationToken.None).ConfigureAwait(false);
                break;
            }
            catch (Exception e)
            {
                long dirty = DirtyBytes;
                if (dirty == 0) break; // an earlier failure, written since: nothing is lost
                if (attempt == 2)
                {
                    CacheLog.LostOnClose(_logger, e, Name, dirty);
                    break;
                }
            }
        }
        await _device.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private readonly record struct WriteRecord(long Seq, long Offset, long End, long Dirtied);

    private sealed class DeviceOp(long id, long start, long end, bool writeback)
    {
        public long Id { get; } = id;

        public long Start { get; } = start;

        public long End { get; } = end;

        /// <summary>Writes out acknowledged bytes: a FLUSH waits for it.</summary>
        public bool Writeback { get; } = writeback;

        /// <summary>Completed (never faulted) when the device write has finished, well or not.</summary>
        public TaskCompletionSource Done { get; } = NewSignal();
    }
}
