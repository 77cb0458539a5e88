namespace Rampart.Rbd.Cache;

// Write-back: choosing buffered bytes to write out (in the background, or all of them for a FLUSH), writing them in
// runs of adjacent writes, and what a run's success or failure does to the bytes it carried.
public sealed partial class WritebackCache
{
    private sealed record Writeback(DeviceOp Op, Task[] Earlier, ReadOnlyMemory<byte> Data);

    /// <summary>
    /// The background flusher: writes out bytes older than rbd_cache_max_dirty_age and, oldest first, enough to bring
    /// the bytes waiting below rbd_cache_target_dirty (all of them while a writer waits for room). It does not wait
    /// for its writes: each finished one wakes it. After a failure it rests <see cref="RetryDelay"/>.
    /// </summary>
    private async Task FlushInBackgroundAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            List<Writeback> runs;
            TimeSpan sleep;
            Task wake;
            lock (_lock)
            {
                if (_wake.Task.IsCompleted) _wake = NewSignal();
                wake = _wake.Task;
                long now = _time.GetTimestamp();
                if (_retryAt != 0 && _time.GetElapsedTime(now, _retryAt) > TimeSpan.Zero)
                {
                    runs = [];
                    sleep = _time.GetElapsedTime(now, _retryAt);
                }
                else
                {
                    _retryAt = 0;
                    runs = PrepareWritebacks(TakeDirty(all: false, now, out sleep));
                }
                _flusherIdle = runs.Count == 0 && sleep == Timeout.InfiniteTimeSpan;
            }
            if (runs.Count > 0)
            {
                Launch(runs);
                continue;
            }
            using var rest = CancellationTokenSource.CreateLinkedTokenSource(stop);
            var timer = Task.Delay(sleep, _time, rest.Token);
            await Task.WhenAny(wake, timer).ConfigureAwait(false);
            await rest.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Under the lock: the Dirty segments to write out now — every one with <paramref name="all"/>; otherwise the
    /// writes older than rbd_cache_max_dirty_age and the oldest beyond rbd_cache_target_dirty, with how long until
    /// the next write ages (infinite when nothing waits).
    /// </summary>
    private List<Segment> TakeDirty(bool all, long now, out TimeSpan sleep)
    {
        var taken = new List<Segment>();
        sleep = Timeout.InfiniteTimeSpan;
        long waiting = _map.DirtyBytes - _map.FlushingBytes;
        long target = _blockedWriters > 0 ? 0 : _config.TargetDirty;
        while (_dirtyQueue.First is { } first)
        {
            var r = first.Value;
            var segments = _map.Overlapping(r.Offset, r.End);
            segments.RemoveAll(s => s.Seq != r.Seq || s.State != SegmentState.Dirty);
            if (segments.Count == 0)
            {
                _dirtyQueue.RemoveFirst(); // replaced or written out since
                continue;
            }
            if (!all)
            {
                var age = _time.GetElapsedTime(r.Dirtied, now);
                if (age < _config.MaxDirtyAge && waiting <= target)
                {
                    sleep = _config.MaxDirtyAge - age;
                    break;
                }
            }
            _dirtyQueue.RemoveFirst();
            foreach (var s in segments)
            {
                taken.Add(s);
                waiting -= s.Length;
            }
        }
        return taken;
    }

    /// <summary>
    /// Under the lock: marks <paramref name="dirty"/> Flushing, in runs of adjacent segments of up to
    /// <see cref="MaxRunBytes"/>, each a device write registered behind the older ones it overlaps.
    /// </summary>
    private List<Writeback> PrepareWritebacks(List<Segment> dirty)
    {
        var runs = new List<Writeback>();
        dirty.Sort((a, b) => a.Offset.CompareTo(b.Offset));
        for (int i = 0; i < dirty.Count;)
        {
            int j = i + 1;
            long length = dirty[i].Length;
            while (j < dirty.Count && dirty[j].Offset == dirty[j - 1].End && length + dirty[j].Length <= MaxRunBytes)
                length += dirty[j++].Length;
            var (op, earlier) = Register(dirty[i].Offset, dirty[j - 1].End, writeback: true);
            ReadOnlyMemory<byte> data;
            if (j - i == 1)
            {
                data = dirty[i].Data;
            }
            else
            {
                var bytes = new byte[length];
                int at = 0;
                for (int k = i; k < j; k++)
                {
                    dirty[k].Data.Span.CopyTo(bytes.AsSpan(at));
                    at += (int)dirty[k].Length;
                }
                data = bytes;
            }
            for (int k = i; k < j; k++)
                _map.SetState(dirty[k], SegmentState.Flushing, op.Id);
            runs.Add(new Writeback(op, earlier, data));
            i = j;
        }
        return runs;
    }

    /// <summary>Starts the runs (outside the lock: a device may complete synchronously).</summary>
    private void Launch(List<Writeback> runs)
    {
        foreach (var run in runs)
            _ = WriteBackAsync(run);
    }

    /// <summary>One run: after the older overlapping device writes, on the image; then its bytes are clean, or dirty again.</summary>
    private async Task WriteBackAsync(Writeback run)
    {
        Exception? error = null;
        try
        {
            if (run.Earlier.Length > 0) await Task.WhenAll(run.Earlier).ConfigureAwait(false);
            await _writebackSlots.WaitAsync().ConfigureAwait(false);
            try
            {
                // Not cancelled by any one client: these bytes were acknowledged to all of them.
                await _device.WriteAsync(run.Op.Start, run.Data, fua: false, CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                _writebackSlots.Release();
            }
            Perf.WrittenBack(run.Data.Length);
        }
        catch (Exception e)
        {
            error = e;
            Perf.WritebackFailed();
        }
        bool firstError = false;
        lock (_lock)
        {
            long dirty = _map.DirtyBytes;
            var again = new List<Segment>();
            foreach (var s in _map.Overlapping(run.Op.Start, run.Op.End))
            {
                if (s.Op != run.Op.Id || s.State != SegmentState.Flushing) continue;
                if (error is null)
                {
                    _map.SetState(s, SegmentState.Clean);
                    _cleanQueue.Enqueue(new WriteRecord(s.Seq, s.Offset, s.End, s.Dirtied));
                }
                else
                {
                    _map.SetState(s, SegmentState.Dirty);
                    again.Add(s);
                }
            }
            // Failed bytes go back to the front of the queue, oldest first, to be tried before anything newer.
            foreach (var s in again.OrderByDescending(s => s.Seq))
                _dirtyQueue.AddFirst(new WriteRecord(s.Seq, s.Offset, s.End, s.Dirtied));
            if (error is not null)
            {
                firstError = _writebackError is null;
                _writebackError ??= error;
                _retryAt = _time.GetTimestamp() + (long)(RetryDelay.TotalSeconds * _time.TimestampFrequency);
            }
            _inFlight.Remove(run.Op);
            if (_map.DirtyBytes < dirty) SignalRoom();
            EvictClean();
            Wake();
        }
        if (error is not null)
        {
            if (firstError) CacheLog.WritebackFailed(_logger, error, Name, run.Data.Length, run.Op.Start);
            else CacheLog.WritebackFailedAgain(_logger, Name, run.Data.Length, run.Op.Start, error.Message);
        }
        run.Op.Done.TrySetResult();
    }
}
