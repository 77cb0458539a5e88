using Rampart.Rbd.Nbd;

namespace Rampart.Testing;

/// <summary>
/// An in-memory block device standing in for an image in NBD tests. Counts what reached it (FUA writes, flushes),
/// and lets a test delay or fail any operation through <see cref="Hook"/>.
/// </summary>
public sealed class MemoryBlockDevice(long size, bool readOnly = false) : IBlockDevice
{
    private readonly byte[] _data = new byte[size];
    private readonly Lock _lock = new();
    private long _writes, _fuaWrites, _flushes, _trims, _zeroes, _fuaZeroes, _reads;

    public long Size => _data.LongLength;

    public bool ReadOnly { get; } = readOnly;

    /// <summary>Runs before every operation with its name ("read", "write", "zero", "trim", "flush") and offset; may wait or throw.</summary>
    public Func<string, long, CancellationToken, ValueTask>? Hook { get; set; }

    public long Reads => Interlocked.Read(ref _reads);

    public long Writes => Interlocked.Read(ref _writes);

    public long FuaWrites => Interlocked.Read(ref _fuaWrites);

    public long Flushes => Interlocked.Read(ref _flushes);

    public long Trims => Interlocked.Read(ref _trims);

    public long Zeroes => Interlocked.Read(ref _zeroes);

    public long FuaZeroes => Interlocked.Read(ref _fuaZeroes);

    /// <summary>A copy of the contents.</summary>
    public byte[] Snapshot()
    {
        lock (_lock) return (byte[])_data.Clone();
    }

    public void Fill(ReadOnlySpan<byte> data, long offset = 0)
    {
        lock (_lock) data.CopyTo(_data.AsSpan((int)offset));
    }

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        await RunHookAsync("read", offset, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _reads);
        lock (_lock) _data.AsSpan((int)offset, buffer.Length).CopyTo(buffer.Span);
    }

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        await RunHookAsync("write", offset, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _writes);
        if (fua) Interlocked.Increment(ref _fuaWrites);
        lock (_lock) data.Span.CopyTo(_data.AsSpan((int)offset));
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, bool fua, CancellationToken cancellationToken)
    {
        await RunHookAsync("zero", offset, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _zeroes);
        if (fua) Interlocked.Increment(ref _fuaZeroes);
        lock (_lock) _data.AsSpan((int)offset, (int)length).Clear();
    }

    public async ValueTask TrimAsync(long offset, long length, CancellationToken cancellationToken)
    {
        await RunHookAsync("trim", offset, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _trims);
        lock (_lock) _data.AsSpan((int)offset, (int)length).Clear();
    }

    /// <summary>Data is every 4 KiB page with a byte that is not zero (what a sparse file would keep).</summary>
    public ValueTask<IReadOnlyList<(long Offset, long Length)>> AllocatedAsync(long offset, long length, CancellationToken cancellationToken)
    {
        var pages = new List<(long, long)>();
        lock (_lock)
        {
            for (long page = offset & ~4095L; page < offset + length; page += 4096)
            {
                if (_data.AsSpan((int)page, (int)Math.Min(4096, Size - page)).ContainsAnyExcept((byte)0))
                    pages.Add((page, 4096));
            }
        }
        return ValueTask.FromResult(BlockRanges.Union(pages, offset, offset + length));
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        await RunHookAsync("flush", 0, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref _flushes);
    }

    /// <summary>The device outlives the handles the catalog gives out; see <see cref="MemoryExportCatalog"/>.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private ValueTask RunHookAsync(string operation, long offset, CancellationToken cancellationToken) =>
        Hook is { } hook ? hook(operation, offset, cancellationToken) : ValueTask.CompletedTask;
}

/// <summary>
/// Exports by name, each a shared <see cref="MemoryBlockDevice"/>. Every open returns a fresh handle, and the catalog
/// counts handles not yet disposed, so a test can prove the server closed what it opened.
/// </summary>
public sealed class MemoryExportCatalog : IExportCatalog
{
    private readonly Dictionary<string, MemoryBlockDevice> _exports = [];
    private readonly Lock _lock = new();
    private int _open;
    private int _opened;

    public MemoryBlockDevice Add(string name, MemoryBlockDevice device)
    {
        lock (_lock) _exports.Add(name, device);
        return device;
    }

    /// <summary>Handles opened and not yet disposed.</summary>
    public int OpenHandles => Volatile.Read(ref _open);

    public int Opened => Volatile.Read(ref _opened);

    public ValueTask<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken)
    {
        MemoryBlockDevice? device;
        lock (_lock) _exports.TryGetValue(name, out device);
        if (device is null) return ValueTask.FromResult<IBlockDevice?>(null);
        Interlocked.Increment(ref _open);
        Interlocked.Increment(ref _opened);
        return ValueTask.FromResult<IBlockDevice?>(new Handle(device, this));
    }

    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
    {
        lock (_lock) return ValueTask.FromResult<IReadOnlyList<string>>([.. _exports.Keys]);
    }

    private sealed class Handle(MemoryBlockDevice device, MemoryExportCatalog catalog) : IBlockDevice
    {
        private int _disposed;

        public long Size => device.Size;

        public bool ReadOnly => device.ReadOnly;

        public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken) =>
            device.ReadAsync(offset, buffer, cancellationToken);

        public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken) =>
            device.WriteAsync(offset, data, fua, cancellationToken);

        public ValueTask WriteZeroesAsync(long offset, long length, bool fua, CancellationToken cancellationToken) =>
            device.WriteZeroesAsync(offset, length, fua, cancellationToken);

        public ValueTask TrimAsync(long offset, long length, CancellationToken cancellationToken) =>
            device.TrimAsync(offset, length, cancellationToken);

        public ValueTask FlushAsync(CancellationToken cancellationToken) => device.FlushAsync(cancellationToken);

        public ValueTask<IReadOnlyList<(long Offset, long Length)>> AllocatedAsync(long offset, long length, CancellationToken cancellationToken) =>
            device.AllocatedAsync(offset, length, cancellationToken);

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1) throw new InvalidOperationException("block device handle disposed twice");
            Interlocked.Decrement(ref catalog._open);
            return ValueTask.CompletedTask;
        }
    }
}
