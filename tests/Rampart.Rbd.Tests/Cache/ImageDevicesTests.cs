using Microsoft.Extensions.Time.Testing;
using Rampart.Common.AdminSocket;
using Rampart.Rbd.Cache;
using Rampart.Rbd.Nbd;
using Rampart.Testing;

namespace Rampart.Rbd.Tests.Cache;

/// <summary>One cache per image per process, shared by its handles (CAN_MULTI_CONN), closed after the last.</summary>
public sealed class ImageDevicesTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private readonly MemoryBlockDevice _device = new(1 << 20);
    private readonly PerfRegistry _registry = new();
    private readonly FakeTimeProvider _time = new();
    private int _opens;

    private static RbdCacheConfig Config(bool enabled = true) => new()
    {
        Enabled = enabled,
        WritethroughUntilFlush = false,
        MaxDirtyAge = TimeSpan.FromHours(1),
    };

    private ImageDevices Devices(bool enabled = true) => new(Config(enabled), _registry, time: _time);

    private Task<(IBlockDevice, string)> OpenDisk(CancellationToken _)
    {
        Interlocked.Increment(ref _opens);
        return Task.FromResult<(IBlockDevice, string)>((_device, "librbd-1234-rbd-disk"));
    }

    [Fact]
    public async Task Handles_OnOneImage_ShareOneCache_SoAFlushOnOneCoversWritesOnAnother()
    {
        var devices = Devices();
        await using var a = await devices.OpenAsync("rbd/disk", OpenDisk, CancellationToken.None);
        await using var b = await devices.OpenAsync("rbd/disk", OpenDisk, CancellationToken.None);

        await a.WriteAsync(0, new byte[] { 1, 2, 3 }, false, CancellationToken.None);
        Assert.Equal(0, _device.Writes);
        var read = new byte[3];
        await b.ReadAsync(0, read, CancellationToken.None);
        Assert.Equal(new byte[] { 1, 2, 3 }, read);
        await b.FlushAsync(CancellationToken.None);

        Assert.Equal(1, _opens);
        Assert.Equal(new byte[] { 1, 2, 3 }, _device.Snapshot()[..3]);
        Assert.Equal(["librbd-1234-rbd-disk", "objectcacher-librbd-1234-rbd-disk"], _registry.Names);
    }

    [Fact]
    public async Task LastHandle_Disposed_WritesOutAndClosesTheCache()
    {
        var devices = Devices();
        var a = await devices.OpenAsync("rbd/disk", OpenDisk, CancellationToken.None);
        var b = await devices.OpenAsync("rbd/disk", OpenDisk, CancellationToken.None);
        await a.WriteAsync(0, new byte[] { 7 }, false, CancellationToken.None);

        await a.DisposeAsync();
        Assert.Equal(1, devices.OpenCaches);
        Assert.Equal(0, _device.Writes);
        await b.DisposeAsync();

        Assert.Equal(0, devices.OpenCaches);
        Assert.Equal(7, _device.Snapshot()[0]);
    }

    [Fact]
    public async Task Open_WhileTheCacheCloses_WaitsForItSoItReadsEveryWrite()
    {
        var devices = Devices();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _device.Hook = async (op, _, _) =>
        {
            if (op != "write") return;
            entered.TrySetResult();
            await gate.Task;
        };
        var a = await devices.OpenAsync("rbd/disk", OpenDisk, CancellationToken.None);
        await a.WriteAsync(0, new byte[] { 9 }, false, CancellationToken.None);
        var closing = a.DisposeAsync().AsTask();
        await entered.Task.WaitAsync(Deadline);

        var reopening = devices.OpenAsync("rbd/disk", OpenDisk, CancellationToken.None).AsTask();
        await Task.Delay(50);
        Assert.False(reopening.IsCompleted);
        gate.SetResult();
        await closing.WaitAsync(Deadline);
        await using var b = await reopening.WaitAsync(Deadline);

        var read = new byte[1];
        await b.ReadAsync(0, read, CancellationToken.None);
        Assert.Equal(9, read[0]);
        Assert.Equal(2, _opens);
    }

    [Fact]
    public async Task Open_ThatFails_ReachesEveryWaiter_AndTheNextOpenTriesAgain()
    {
        var devices = Devices();
        int calls = 0;
        Task<(IBlockDevice, string)> Flaky(CancellationToken token) =>
            Interlocked.Increment(ref calls) == 1 ? Task.FromException<(IBlockDevice, string)>(new IOException("osd down")) : OpenDisk(token);

        await Assert.ThrowsAsync<IOException>(() => devices.OpenAsync("rbd/disk", Flaky, CancellationToken.None).AsTask());
        await Wait.UntilAsync(() => devices.OpenCaches == 0, Deadline, "the failed entry gone");
        await using var device = await devices.OpenAsync("rbd/disk", Flaky, CancellationToken.None);

        Assert.Equal(2, calls);
    }

    [Fact]
    public async Task WithoutTheCache_EachHandleHasItsOwnDevice_AndRequestsAreCounted()
    {
        var devices = Devices(enabled: false);
        await using (var a = await devices.OpenAsync("rbd/disk", OpenDisk, CancellationToken.None))
        {
            await a.WriteAsync(0, new byte[4096], false, CancellationToken.None);
            await a.ReadAsync(0, new byte[512], CancellationToken.None);
        }
        await using (var b = await devices.OpenAsync("rbd/disk", OpenDisk, CancellationToken.None))
            await b.FlushAsync(CancellationToken.None);

        Assert.Equal(2, _opens);
        Assert.Equal(1, _device.Writes);
        Assert.Equal(["librbd-1234-rbd-disk"], _registry.Names);
        var json = await PerfJsonAsync();
        Assert.Contains("\"wr\": 1", json, StringComparison.Ordinal);
        Assert.Contains("\"wr_bytes\": 4096", json, StringComparison.Ordinal);
        Assert.Contains("\"rd\": 1", json, StringComparison.Ordinal);
        Assert.Contains("\"flush\": 1", json, StringComparison.Ordinal);
    }

    private async Task<string> PerfJsonAsync()
    {
        using var stream = new MemoryStream();
        await using (var writer = new System.Text.Json.Utf8JsonWriter(stream, new System.Text.Json.JsonWriterOptions { Indented = true }))
            _registry.WriteTo(writer);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
