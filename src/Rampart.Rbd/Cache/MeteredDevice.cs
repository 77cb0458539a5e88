using Rampart.Rbd.Nbd;

namespace Rampart.Rbd.Cache;

/// <summary>
/// One connection's handle on an image's device: counts what the client asked for in the image's
/// <see cref="ImagePerf"/> (requests, bytes, latency as the client saw it) and runs <c>release</c> once on dispose.
/// </summary>
internal sealed class MeteredDevice(IBlockDevice device, ImagePerf perf, Func<ValueTask> release, TimeProvider? time = null) : IBlockDevice
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private int _disposed;

    public long Size => device.Size;

    public bool ReadOnly => device.ReadOnly;

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        long start = _time.GetTimestamp();
        try { await device.ReadAsync(offset, buffer, cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException) { perf.Error(); throw; }
        perf.Read(buffer.Length, _time.GetElapsedTime(start));
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        long start = _time.GetTimestamp();
        try { await device.WriteAsync(offset, data, fua, cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException) { perf.Error(); throw; }
        perf.Write(data.Length, _time.GetElapsedTime(start));
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, bool fua, CancellationToken cancellationToken)
    {
        long start = _time.GetTimestamp();
        try { await device.WriteZeroesAsync(offset, length, fua, cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException) { perf.Error(); throw; }
        perf.Discard(length, _time.GetElapsedTime(start));
    }

    public async ValueTask TrimAsync(long offset, long length, CancellationToken cancellationToken)
    {
        long start = _time.GetTimestamp();
        try { await device.TrimAsync(offset, length, cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException) { perf.Error(); throw; }
        perf.Discard(length, _time.GetElapsedTime(start));
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        long start = _time.GetTimestamp();
        try { await device.FlushAsync(cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException) { perf.Error(); throw; }
        perf.Flush(_time.GetElapsedTime(start));
    }

    public ValueTask<IReadOnlyList<(long Offset, long Length)>> AllocatedAsync(long offset, long length, CancellationToken cancellationToken) =>
        device.AllocatedAsync(offset, length, cancellationToken);

    public ValueTask DisposeAsync() => Interlocked.Exchange(ref _disposed, 1) == 1 ? ValueTask.CompletedTask : release();
}
