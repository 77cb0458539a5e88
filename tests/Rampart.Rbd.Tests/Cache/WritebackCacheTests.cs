using Microsoft.Extensions.Time.Testing;
using Rampart.Rbd.Cache;
using Rampart.Rbd.Nbd;
using Rampart.Testing;

namespace Rampart.Rbd.Tests.Cache;

/// <summary>The writeback cache against an in-memory device, with a fake clock driving the background flusher.</summary>
public sealed class WritebackCacheTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly MemoryBlockDevice _device = new(1 << 20);
    private readonly List<TaskCompletionSource> _gates = [];
    private WritebackCache? _cache;

    private WritebackCache Cache => _cache ??= Open(Config());

    private WritebackCache Open(RbdCacheConfig config) => _cache = new WritebackCache(_device, config, "rbd/test", time: _time);

    /// <summary>Writeback from the first write; nothing ages on its own unless a test says so.</summary>
    private static RbdCacheConfig Config(long maxDirty = 256 << 10, long target = 128 << 10, double ageSeconds = 3600, long size = 512 << 10,
        bool writethroughUntilFlush = false) => new()
        {
            Enabled = true,
            MaxDirty = maxDirty,
            TargetDirty = target,
            MaxDirtyAge = TimeSpan.FromSeconds(ageSeconds),
            Size = size,
            WritethroughUntilFlush = writethroughUntilFlush,
        };

    private static byte[] Pattern(int length, byte value) => Enumerable.Repeat(value, length).ToArray();

    private async Task<byte[]> ReadAsync(long offset, int length)
    {
        var buffer = new byte[length];
        await Cache.ReadAsync(offset, buffer, CancellationToken.None);
        return buffer;
    }

    private byte[] OnDevice(long offset, int length) => _device.Snapshot().AsSpan((int)offset, length).ToArray();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // A test that failed with a device write held must not hang here: let everything through.
        foreach (var gate in _gates) gate.TrySetResult();
        _device.Hook = null;
        if (_cache is not null) await _cache.DisposeAsync().AsTask().WaitAsync(Deadline);
    }

    [Fact]
    public async Task Write_Buffered_AcknowledgedBeforeTheDeviceAndReadBack()
    {
        await Cache.WriteAsync(4096, Pattern(8192, 0xAB), false, CancellationToken.None);

        Assert.Equal(0, _device.Writes);
        Assert.Equal(8192, Cache.DirtyBytes);
        Assert.Equal(Pattern(8192, 0xAB), await ReadAsync(4096, 8192));
        Assert.Equal(0, _device.Reads);
        Assert.Equal(1, Cache.Perf.Hits);
        Assert.Equal(new byte[8192], OnDevice(4096, 8192));
    }

    [Fact]
    public async Task Allocated_IncludesBufferedWritesTheDeviceHasNotSeen()
    {
        _device.Fill(Pattern(4096, 0x11), 65536);
        await Cache.WriteAsync(8192, Pattern(100, 0x22), false, CancellationToken.None);

        var allocated = await Cache.AllocatedAsync(0, 1 << 20, CancellationToken.None);

        Assert.Equal(0, _device.Writes);
        Assert.Equal([(8192L, 100L), (65536L, 4096L)], allocated);
        Assert.Equal([(8200L, 92L)], await Cache.AllocatedAsync(8200, 1000, CancellationToken.None));
    }

    [Fact]
    public async Task Read_PartlyBuffered_OverlaysBufferedBytesOnTheDevice()
    {
        _device.Fill(Pattern(65536, 0x11));
        await Cache.WriteAsync(8192, Pattern(4096, 0x22), false, CancellationToken.None);
        await Cache.WriteAsync(20480, Pattern(512, 0x33), false, CancellationToken.None);

        var read = await ReadAsync(4096, 32768);

        var expected = Pattern(32768, 0x11);
        Pattern(4096, 0x22).CopyTo(expected, 8192 - 4096);
        Pattern(512, 0x33).CopyTo(expected, 20480 - 4096);
        Assert.Equal(expected, read);
        Assert.Equal(1, Cache.Perf.Misses);
    }

    [Fact]
    public async Task OverlappingWrites_ResolveInTheOrderMade_InReadsAndOnTheDevice()
    {
        await Cache.WriteAsync(0, Pattern(8192, 1), false, CancellationToken.None);
        await Cache.WriteAsync(4096, Pattern(8192, 2), false, CancellationToken.None);
        await Cache.WriteAsync(2048, Pattern(1024, 3), false, CancellationToken.None);
        await Cache.WriteAsync(6000, Pattern(100, 4), false, CancellationToken.None);
        var expected = new byte[16384];
        Pattern(8192, 1).CopyTo(expected, 0);
        Pattern(8192, 2).CopyTo(expected, 4096);
        Pattern(1024, 3).CopyTo(expected, 2048);
        Pattern(100, 4).CopyTo(expected, 6000);

        Assert.Equal(expected, await ReadAsync(0, 16384));
        Assert.Equal(12288, Cache.DirtyBytes);
        await Cache.FlushAsync(CancellationToken.None);
        Assert.Equal(expected, OnDevice(0, 16384));
        Assert.Equal(0, Cache.DirtyBytes);
    }

    [Fact]
    public async Task Flush_WritesOutEverythingBufferedThenFlushesTheDevice()
    {
        var order = new List<string>();
        _device.Hook = (op, offset, _) =>
        {
            lock (order) order.Add(op);
            return ValueTask.CompletedTask;
        };
        for (int i = 0; i < 10; i++)
            await Cache.WriteAsync(i * 65536L, Pattern(4096, (byte)(i + 1)), false, CancellationToken.None);

        await Cache.FlushAsync(CancellationToken.None);

        for (int i = 0; i < 10; i++)
            Assert.Equal(Pattern(4096, (byte)(i + 1)), OnDevice(i * 65536L, 4096));
        Assert.Equal(0, Cache.DirtyBytes);
        Assert.Equal(1, _device.Flushes);
        Assert.Equal("flush", order[^1]);
        Assert.Equal(10, order.Count(o => o == "write"));
    }

    [Fact]
    public async Task Flush_AdjacentWrites_GoOutAsOneDeviceWrite()
    {
        for (int i = 0; i < 16; i++)
            await Cache.WriteAsync(i * 4096L, Pattern(4096, (byte)i), false, CancellationToken.None);

        await Cache.FlushAsync(CancellationToken.None);

        Assert.Equal(1, _device.Writes);
        for (int i = 0; i < 16; i++)
            Assert.Equal(Pattern(4096, (byte)i), OnDevice(i * 4096L, 4096));
    }

    [Fact]
    public async Task FuaWrite_ReachesTheDeviceBeforeItCompletes_AndOlderBufferedBytesNeverOverwriteIt()
    {
        await Cache.WriteAsync(0, Pattern(8192, 0xA), false, CancellationToken.None);

        await Cache.WriteAsync(2048, Pattern(2048, 0xB), true, CancellationToken.None);

        Assert.Equal(1, _device.FuaWrites);
        Assert.Equal(Pattern(2048, 0xB), OnDevice(2048, 2048));
        await Cache.FlushAsync(CancellationToken.None);
        var expected = Pattern(8192, 0xA);
        Pattern(2048, 0xB).CopyTo(expected, 2048);
        Assert.Equal(expected, OnDevice(0, 8192));
        Assert.Equal(expected, await ReadAsync(0, 8192));
    }

    /// <summary>Holds the first device write of <paramref name="operation"/> until the returned gate opens.</summary>
    private (TaskCompletionSource Entered, TaskCompletionSource Gate) HoldFirst(string operation)
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _gates.Add(gate);
        int seen = 0;
        _device.Hook = async (op, _, _) =>
        {
            if (op != operation || Interlocked.Increment(ref seen) != 1) return;
            entered.TrySetResult();
            await gate.Task;
        };
        return (entered, gate);
    }

    [Fact]
    public async Task FuaWrite_WaitsForAnOlderWriteBackOfTheSameBytes()
    {
        await Cache.WriteAsync(0, Pattern(4096, 0xA), false, CancellationToken.None);
        var (entered, gate) = HoldFirst("write");
        var flush = Cache.FlushAsync(CancellationToken.None).AsTask();
        await entered.Task.WaitAsync(Deadline);

        var fua = Cache.WriteAsync(0, Pattern(4096, 0xB), true, CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(fua.IsCompleted);
        Assert.Equal(0, _device.FuaWrites);
        Assert.Equal(Pattern(4096, 0xB), await ReadAsync(0, 4096)); // reads see the newest write meanwhile

        gate.SetResult();
        await fua.WaitAsync(Deadline);
        await flush.WaitAsync(Deadline);
        Assert.Equal(Pattern(4096, 0xB), OnDevice(0, 4096));
    }

    [Theory]
    [InlineData("zero")]
    [InlineData("trim")]
    public async Task ZeroesAndTrim_AreNotOvertakenByOlderBufferedWrites(string operation)
    {
        await Cache.WriteAsync(0, Pattern(16384, 0xA), false, CancellationToken.None);
        await Cache.WriteAsync(65536, Pattern(4096, 0xC), false, CancellationToken.None);
        var (entered, gate) = HoldFirst("write");
        var flush = Cache.FlushAsync(CancellationToken.None).AsTask();
        await entered.Task.WaitAsync(Deadline);

        var zero = operation == "zero"
            ? Cache.WriteZeroesAsync(4096, 8192, false, CancellationToken.None).AsTask()
            : Cache.TrimAsync(4096, 8192, CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(zero.IsCompleted);
        gate.SetResult();
        await zero.WaitAsync(Deadline);
        await flush.WaitAsync(Deadline);
        // A buffered write made before the zeroing, still dirty when it is issued, must not resurface either.
        await Cache.WriteAsync(32768, Pattern(4096, 0xD), false, CancellationToken.None);
        var late = operation == "zero"
            ? Cache.WriteZeroesAsync(32768, 4096, false, CancellationToken.None)
            : Cache.TrimAsync(32768, 4096, CancellationToken.None);
        await late;
        await Cache.FlushAsync(CancellationToken.None);

        var expected = Pattern(16384, 0xA);
        Array.Clear(expected, 4096, 8192);
        Assert.Equal(expected, OnDevice(0, 16384));
        Assert.Equal(expected, await ReadAsync(0, 16384));
        Assert.Equal(new byte[4096], OnDevice(32768, 4096));
        Assert.Equal(new byte[4096], await ReadAsync(32768, 4096));
        Assert.Equal(Pattern(4096, 0xC), OnDevice(65536, 4096));
    }

    [Fact]
    public async Task Write_BeyondMaxDirty_WaitsUntilWriteBackMakesRoom()
    {
        Open(Config(maxDirty: 64 << 10, target: 64 << 10));
        var (entered, gate) = HoldFirst("write");
        await Cache.WriteAsync(0, Pattern(64 << 10, 1), false, CancellationToken.None);

        var blocked = Cache.WriteAsync(128 << 10, Pattern(4096, 2), false, CancellationToken.None).AsTask();
        await entered.Task.WaitAsync(Deadline); // the waiting writer set the flusher going
        await Task.Delay(50);
        Assert.False(blocked.IsCompleted);
        Assert.Equal(1, Cache.Perf.WritesBlocked);

        gate.SetResult();
        await blocked.WaitAsync(Deadline);
        Assert.Equal(Pattern(64 << 10, 1), OnDevice(0, 64 << 10));
        Assert.Equal(4096, Cache.DirtyBytes);
    }

    [Fact]
    public async Task Write_BlockedForRoom_IsCancelledWithItsRequest()
    {
        Open(Config(maxDirty: 64 << 10, target: 64 << 10));
        var (_, gate) = HoldFirst("write");
        await Cache.WriteAsync(0, Pattern(64 << 10, 1), false, CancellationToken.None);
        using var cancel = new CancellationTokenSource();

        var blocked = Cache.WriteAsync(128 << 10, Pattern(4096, 2), false, cancel.Token).AsTask();
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked.WaitAsync(Deadline));
        gate.SetResult();
        await Cache.FlushAsync(CancellationToken.None);
        Assert.Equal(new byte[4096], OnDevice(128 << 10, 4096));
    }

    [Fact]
    public async Task BackgroundFlusher_WritesOutDataOlderThanMaxDirtyAge()
    {
        Open(Config(ageSeconds: 1));
        await Cache.WriteAsync(0, Pattern(4096, 7), false, CancellationToken.None);
        await Task.Delay(20);
        _time.Advance(TimeSpan.FromMilliseconds(500));
        await Task.Delay(50);
        Assert.Equal(0, _device.Writes);

        _time.Advance(TimeSpan.FromMilliseconds(600));

        await Wait.UntilAsync(() => Cache.DirtyBytes == 0, Deadline, "the aged write written out");
        Assert.Equal(Pattern(4096, 7), OnDevice(0, 4096));
        Assert.Equal(0, _device.Flushes); // write-back is not a flush: only FLUSH flushes the device
        Assert.Equal(Pattern(4096, 7), await ReadAsync(0, 4096)); // kept clean for reads
        Assert.Equal(4096, Cache.CleanBytes);
    }

    [Fact]
    public async Task BackgroundFlusher_AboveTargetDirty_WritesOutTheOldestFirst()
    {
        Open(Config(maxDirty: 64 << 10, target: 8 << 10));
        for (int i = 0; i < 3; i++)
            await Cache.WriteAsync(i * 65536L, Pattern(4096, (byte)(i + 1)), false, CancellationToken.None);

        await Wait.UntilAsync(() => Cache.DirtyBytes <= 8192, Deadline, "dirty bytes down to the target");
        Assert.Equal(Pattern(4096, 1), OnDevice(0, 4096));
        Assert.Equal(new byte[4096], OnDevice(65536, 4096));
        Assert.Equal(new byte[4096], OnDevice(131072, 4096));
    }

    [Fact]
    public async Task BackgroundWriteBackError_KeepsTheBytes_AndIsReturnedByTheNextFlushOnce()
    {
        Open(Config(ageSeconds: 1));
        bool failing = true;
        _device.Hook = (op, _, _) => op == "write" && Volatile.Read(ref failing)
            ? throw new BlockDeviceException(BlockDeviceException.ENOSPC, "no space")
            : ValueTask.CompletedTask;
        await Cache.WriteAsync(0, Pattern(4096, 9), false, CancellationToken.None);
        // The clock moves on until the flusher has tried: it may start waiting on it only after a first advance.
        await Wait.UntilAsync(() =>
        {
            _time.Advance(TimeSpan.FromSeconds(2));
            return Cache.Perf.WritebackErrors >= 1;
        }, Deadline, "the write-back failed");

        Assert.Equal(4096, Cache.DirtyBytes);
        Assert.Equal(Pattern(4096, 9), await ReadAsync(0, 4096));
        Volatile.Write(ref failing, false);
        var error = await Assert.ThrowsAsync<BlockDeviceException>(() => Cache.FlushAsync(CancellationToken.None).AsTask());
        Assert.Equal(BlockDeviceException.ENOSPC, error.Errno);
        Assert.Contains("no space", error.Message, StringComparison.Ordinal);

        // The FLUSH wrote the kept bytes again; the failure was reported once.
        Assert.Equal(Pattern(4096, 9), OnDevice(0, 4096));
        await Cache.FlushAsync(CancellationToken.None);
        Assert.Equal(0, Cache.DirtyBytes);
    }

    [Fact]
    public async Task BackgroundWriteBackError_IsRetriedAfterTheRetryDelay()
    {
        Open(Config(ageSeconds: 1));
        int failures = 1;
        _device.Hook = (op, _, _) => op == "write" && Interlocked.Decrement(ref failures) >= 0
            ? throw new IOException("osd gone")
            : ValueTask.CompletedTask;
        await Cache.WriteAsync(0, Pattern(4096, 5), false, CancellationToken.None);
        await Wait.UntilAsync(() =>
        {
            _time.Advance(TimeSpan.FromSeconds(2)); // until the flusher, waiting on the clock, has tried
            return Cache.Perf.WritebackErrors == 1;
        }, Deadline, "the write-back failed");

        await Wait.UntilAsync(() =>
        {
            _time.Advance(WritebackCache.RetryDelay);
            return Cache.DirtyBytes == 0;
        }, Deadline, "the retry written out");
        Assert.Equal(Pattern(4096, 5), OnDevice(0, 4096));
        var error = await Assert.ThrowsAsync<BlockDeviceException>(() => Cache.FlushAsync(CancellationToken.None).AsTask());
        Assert.Equal(BlockDeviceException.EIO, error.Errno);
    }

    [Fact]
    public async Task Flush_WhenWriteBackFails_FailsAndKeepsTheBytesForTheNext()
    {
        bool failing = true;
        _device.Hook = (op, _, _) => op == "write" && Volatile.Read(ref failing) ? throw new IOException("down") : ValueTask.CompletedTask;
        await Cache.WriteAsync(8192, Pattern(4096, 3), false, CancellationToken.None);

        await Assert.ThrowsAsync<BlockDeviceException>(() => Cache.FlushAsync(CancellationToken.None).AsTask());
        Assert.Equal(4096, Cache.DirtyBytes);
        Assert.Equal(0, _device.Flushes);
        Volatile.Write(ref failing, false);
        await Cache.FlushAsync(CancellationToken.None);

        Assert.Equal(Pattern(4096, 3), OnDevice(8192, 4096));
        Assert.Equal(1, _device.Flushes);
    }

    [Fact]
    public async Task MaxDirtyZero_IsWriteThrough()
    {
        Open(Config(maxDirty: 0, target: 0));

        await Cache.WriteAsync(0, Pattern(4096, 1), false, CancellationToken.None);

        Assert.Equal(1, _device.Writes);
        Assert.Equal(0, _device.FuaWrites);
        Assert.Equal(Pattern(4096, 1), OnDevice(0, 4096));
        Assert.Equal(0, Cache.DirtyBytes);
        Assert.Equal(4096, Cache.Perf.WriteThrough);
    }

    [Fact]
    public async Task WritethroughUntilFlush_BuffersOnlyAfterTheFirstFlush()
    {
        Open(Config(writethroughUntilFlush: true));
        await Cache.WriteAsync(0, Pattern(4096, 1), false, CancellationToken.None);
        Assert.Equal(1, _device.Writes);

        await Cache.FlushAsync(CancellationToken.None);
        await Cache.WriteAsync(4096, Pattern(4096, 2), false, CancellationToken.None);

        Assert.Equal(1, _device.Writes);
        Assert.Equal(4096, Cache.DirtyBytes);
    }

    [Fact]
    public async Task Dispose_WritesOutWhatIsBufferedAndFlushes()
    {
        var cache = Open(Config());
        await cache.WriteAsync(0, Pattern(4096, 6), false, CancellationToken.None);

        await cache.DisposeAsync();
        _cache = null;

        Assert.Equal(Pattern(4096, 6), OnDevice(0, 4096));
        Assert.Equal(1, _device.Flushes);
    }

    [Fact]
    public async Task CleanBytes_StayWithinRbdCacheSize()
    {
        Open(Config(maxDirty: 32 << 10, target: 16 << 10, size: 64 << 10));
        for (int i = 0; i < 64; i++)
        {
            await Cache.WriteAsync(i * 4096L, Pattern(4096, (byte)i), false, CancellationToken.None);
            Assert.InRange(Cache.CleanBytes + Cache.DirtyBytes, 0, (64 << 10) + 4096);
        }
        await Cache.FlushAsync(CancellationToken.None);

        Assert.InRange(Cache.CleanBytes, 1, 64 << 10);
        for (int i = 0; i < 64; i++)
            Assert.Equal(Pattern(4096, (byte)i), await ReadAsync(i * 4096L, 4096));
    }

    [Fact]
    public async Task Requests_OutsideTheDevice_AreEinval()
    {
        var error = await Assert.ThrowsAsync<BlockDeviceException>(() => Cache.WriteAsync((1 << 20) - 10, new byte[20], false, CancellationToken.None).AsTask());
        Assert.Equal(BlockDeviceException.EINVAL, error.Errno);
        error = await Assert.ThrowsAsync<BlockDeviceException>(() => Cache.ReadAsync(-1, new byte[1], CancellationToken.None).AsTask());
        Assert.Equal(BlockDeviceException.EINVAL, error.Errno);
    }

    [Fact]
    public async Task ReadOnlyDevice_RefusesWritesWithEperm()
    {
        await using var cache = new WritebackCache(new MemoryBlockDevice(4096, readOnly: true), Config(), "rbd/x@s", time: _time);

        var error = await Assert.ThrowsAsync<BlockDeviceException>(() => cache.WriteAsync(0, new byte[512], false, CancellationToken.None).AsTask());

        Assert.Equal(BlockDeviceException.EPERM, error.Errno);
    }

    /// <summary>
    /// Random reads, writes (some FUA), zeroing, trims and flushes against a model of the bytes, with the background
    /// flusher running on a moving clock and device calls completing out of order: every read matches the model, and
    /// after the last FLUSH so does the device.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task RandomOperations_MatchAModel(int seed)
    {
        var random = new Random(seed);
        var hookRandom = new Random(seed + 1000);
        const int size = 256 << 10;
        var device = new MemoryBlockDevice(size);
        device.Hook = async (_, _, _) =>
        {
            int pick;
            lock (hookRandom) pick = hookRandom.Next(10);
            if (pick < 3) await Task.Yield();
            else if (pick == 3) await Task.Delay(1);
        };
        var model = new byte[size];
        await using var cache = new WritebackCache(device, Config(maxDirty: 64 << 10, target: 32 << 10, ageSeconds: 1, size: 128 << 10), "rbd/model", time: _time);
        for (int i = 0; i < 1500; i++)
        {
            int offset = random.Next(size / 512) * 512;
            int length = Math.Min(size - offset, (random.Next(64) + 1) * 512);
            int op = random.Next(100);
            if (op < 45)
            {
                var data = new byte[length];
                random.NextBytes(data);
                await cache.WriteAsync(offset, data, random.Next(10) == 0, CancellationToken.None);
                data.CopyTo(model, offset);
            }
            else if (op < 52)
            {
                await cache.WriteZeroesAsync(offset, length, random.Next(2) == 0, CancellationToken.None);
                Array.Clear(model, offset, length);
            }
            else if (op < 57)
            {
                await cache.TrimAsync(offset, length, CancellationToken.None);
                Array.Clear(model, offset, length);
            }
            else if (op < 62)
            {
                await cache.FlushAsync(CancellationToken.None);
            }
            else
            {
                var buffer = new byte[length];
                await cache.ReadAsync(offset, buffer, CancellationToken.None);
                Assert.True(model.AsSpan(offset, length).SequenceEqual(buffer), $"op {i}: read {offset}+{length} differs from the model");
            }
            if (random.Next(8) == 0) _time.Advance(TimeSpan.FromMilliseconds(random.Next(400)));
        }
        await cache.FlushAsync(CancellationToken.None);
        Assert.True(model.AsSpan().SequenceEqual(device.Snapshot()), "the device after the last FLUSH differs from the model");
        Assert.Equal(0, cache.DirtyBytes);
    }

    /// <summary>Concurrent writers to disjoint ranges with concurrent flushes: every write is on the device after a final FLUSH.</summary>
    [Fact]
    public async Task ConcurrentWritersAndFlushes_LoseNothing()
    {
        Open(Config(maxDirty: 64 << 10, target: 16 << 10, ageSeconds: 1));
        _device.Hook = async (_, _, _) => await Task.Yield();
        var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (int i = 0; i < 100; i++)
            {
                long offset = (w * 100L + i) * 1024;
                await Cache.WriteAsync(offset, Pattern(1024, (byte)(w + 1)), false, CancellationToken.None);
                if (i % 25 == 0) await Cache.FlushAsync(CancellationToken.None);
            }
        })).ToList();
        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(30));

        await Cache.FlushAsync(CancellationToken.None);

        var bytes = _device.Snapshot();
        for (int w = 0; w < 8; w++)
            Assert.True(bytes.AsSpan((int)(w * 100L * 1024), 100 * 1024).SequenceEqual(Pattern(100 * 1024, (byte)(w + 1))), $"writer {w}");
    }
}
