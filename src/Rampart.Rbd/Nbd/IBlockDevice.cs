namespace Rampart.Rbd.Nbd;

/// <summary>What the NBD server exports: a fixed-size range of bytes (an image, an image snapshot).</summary>
/// <remarks>
/// Failures are <see cref="BlockDeviceException"/> carrying the errno the NBD reply should carry
/// (EIO, EPERM, EINVAL, ENOSPC); any other exception is answered with EIO. Implementations must be
/// safe for concurrent calls (several NBD connections, several requests in flight on each).
/// </remarks>
public interface IBlockDevice : IAsyncDisposable
{
    long Size { get; }

    bool ReadOnly { get; }

    ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Completes once the data is as durable as the device promises; with <paramref name="fua"/>, durable.</summary>
    ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken);

    ValueTask WriteZeroesAsync(long offset, long length, bool fua, CancellationToken cancellationToken);

    /// <summary>The range may read back as zeros afterwards and free its space.</summary>
    ValueTask TrimAsync(long offset, long length, CancellationToken cancellationToken);

    /// <summary>Every write completed before this call is durable when it returns.</summary>
    ValueTask FlushAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The ranges within [<paramref name="offset"/>, +<paramref name="length"/>) that may hold data, sorted and apart;
    /// the rest is a hole that reads as zeros. Saying data where there is none is allowed (the whole range always is),
    /// never the reverse: a write completed before the call must be inside a returned range.
    /// </summary>
    ValueTask<IReadOnlyList<(long Offset, long Length)>> AllocatedAsync(long offset, long length, CancellationToken cancellationToken);
}

/// <summary>The exports a server offers, by name (`pool/image`, `pool/image@snap`).</summary>
public interface IExportCatalog
{
    /// <summary>Null when no export has that name.</summary>
    ValueTask<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken);

    ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken);
}

public sealed class BlockDeviceException(int errno, string message) : IOException(message)
{
    public const int EPERM = 1, EIO = 5, EINVAL = 22, ENOSPC = 28;

    public int Errno { get; } = errno;
}

/// <summary>Sets of byte ranges as <see cref="IBlockDevice.AllocatedAsync"/> returns them.</summary>
public static class BlockRanges
{
    /// <summary>The union of <paramref name="ranges"/> clipped to [<paramref name="start"/>, <paramref name="end"/>): sorted,
    /// touching ranges joined, empty ones dropped.</summary>
    public static IReadOnlyList<(long Offset, long Length)> Union(IEnumerable<(long Offset, long Length)> ranges, long start, long end)
    {
        var merged = new List<(long Offset, long Length)>();
        foreach (var (offset, length) in ranges.OrderBy(r => r.Offset))
        {
            long from = Math.Max(offset, start), to = Math.Min(offset + length, end);
            if (from >= to) continue;
            if (merged.Count > 0 && merged[^1].Offset + merged[^1].Length >= from)
            {
                var last = merged[^1];
                merged[^1] = (last.Offset, Math.Max(last.Offset + last.Length, to) - last.Offset);
            }
            else
            {
                merged.Add((from, to - from));
            }
        }
        return merged;
    }
}
