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
