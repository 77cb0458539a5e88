using Rampart.Rados.Client;
using Rampart.Rados.Osd;
using Rampart.Rados.Osd.Store;
using Rampart.Rbd.Nbd;

namespace Rampart.Rbd.Images;

/// <summary>
/// An open image (librbd's Image): byte I/O mapped onto its data objects, at head or — read-only — at a
/// snapshot. Thin: a data object that does not exist reads as zeros. A clone reads what it has not
/// written from its parent snapshot, and copies the parent's object up on the first write to it.
/// Writes carry the image's snapshot context, so the OSDs keep what a snapshot still sees.
/// </summary>
public sealed partial class Image : IBlockDevice
{
    private readonly RadosClient _client;
    private readonly IoContext _data;
    private volatile ImageHeader _header;
    private Image? _parent;
    /// <summary>Data objects of this clone known to exist already: no copy-up is needed for them.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, bool> _copiedUp = new();
    private readonly SemaphoreSlim _refresh = new(1, 1);

    private Image(RadosClient client, IoContext data, ImageSpec spec, ImageHeader header, SnapRecord? snap, Image? parent)
    {
        _client = client;
        _data = data;
        Spec = spec;
        _header = header;
        Snap = snap;
        _parent = parent;
        ApplySnapContext(header);
    }

    public ImageSpec Spec { get; }

    public ImageHeader Header => _header;

    /// <summary>The snapshot this handle reads, or null for head.</summary>
    public SnapRecord? Snap { get; }

    public long Size => Snap?.Size ?? _header.Size;

    public bool ReadOnly => Snap is not null;

    internal IoContext Data => _data;

    internal RadosClient Client => _client;

    /// <summary>Opens <paramref name="spec"/> (with its snapshot, if named) and, for a clone, its parent snapshot.</summary>
    public static async Task<Image> OpenAsync(RadosClient client, ImageSpec spec, CancellationToken cancellationToken = default)
    {
        var pool = new RbdPool(client, spec.Pool);
        string id = await pool.FindIdAsync(spec.Image, cancellationToken).ConfigureAwait(false);
        return await OpenByIdAsync(client, pool, id, spec, cancellationToken).ConfigureAwait(false);
    }

    internal static async Task<Image> OpenByIdAsync(RadosClient client, RbdPool pool, string id, ImageSpec spec, CancellationToken cancellationToken)
    {
        ulong generation = SnapGeneration(client, spec.Pool); // before the header: a snapshot published after it gets our writes refused
        var header = await pool.ReadHeaderAsync(id, cancellationToken).ConfigureAwait(false);
        SnapRecord? snap = null;
        if (spec.Snap is { } snapName)
            snap = header.FindSnap(snapName) ?? throw new RbdException("ENOENT", $"image {spec.WithoutSnap()} has no snapshot '{snapName}'");
        Image? parent = null;
        if (header.Parent is { } p)
        {
            var parentPool = new RbdPool(client, client.Map.FindPool(p.PoolId)?.Name ?? throw new RbdException("ENOENT", $"the parent pool {p.PoolId} of {spec} is gone"));
            var parentHeader = await parentPool.ReadHeaderAsync(p.ImageId, cancellationToken).ConfigureAwait(false);
            var parentSnap = parentHeader.Snaps.FirstOrDefault(s => s.Id == p.SnapId) ?? throw new RbdException("ENOENT", $"the parent snapshot {p.SnapId} of {spec} is gone");
            string parentName = await parentPool.FindNameAsync(p.ImageId, cancellationToken).ConfigureAwait(false) ?? p.ImageId;
            parent = await OpenByIdAsync(client, parentPool, p.ImageId, new ImageSpec(parentPool.Name, parentName, parentSnap.Name), cancellationToken).ConfigureAwait(false);
        }
        var data = new IoContext(client, pool.Io.Pool) { SnapGuard = snap is null ? generation : null };
        return new Image(client, data, spec, header, snap, parent);
    }

    private void ApplySnapContext(ImageHeader header)
    {
        _data.SnapContext = new SnapContext(header.SnapSeq, [.. header.Snaps.Select(s => s.Id).OrderDescending()]);
        _data.ReadSnap = Snap?.Id;
    }

    private static ulong SnapGeneration(RadosClient client, string pool) =>
        client.Map.FindPool(pool)?.SnapGeneration ?? throw new RbdException("ENOENT", $"pool '{pool}' does not exist");

    /// <summary>Reloads the header (after a snapshot or resize made by another handle).</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken = default)
    {
        ulong generation = SnapGeneration(_client, Spec.Pool);
        var header = await new RbdPool(_client, Spec.Pool).ReadHeaderAsync(_header.Id, cancellationToken).ConfigureAwait(false);
        _header = header;
        ApplySnapContext(header);
        if (Snap is null)
            _data.SnapGuard = generation;
    }

    /// <summary>
    /// A write on a data object. When an OSD refuses it because a snapshot was published since this handle read its
    /// header (EOLDSNAPC), the header is read again — with the new snapshot — and the write sent again.
    /// </summary>
    private async Task OperateAsync(string name, ObjectOp[] ops, CancellationToken cancellationToken)
    {
        while (true)
        {
            ulong? guard = _data.SnapGuard;
            try
            {
                await _data.OperateAsync(name, ops, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (RadosException e) when (e.Errno == "EOLDSNAPC")
            {
                await _refresh.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    if (_data.SnapGuard == guard) // not refreshed by a concurrent write meanwhile
                    {
                        var epoch = System.Text.RegularExpressions.Regex.Match(e.Message, @"\(epoch (\d+)\)");
                        if (epoch.Success)
                            await _client.WaitForEpochAsync(long.Parse(epoch.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
                        await RefreshAsync(cancellationToken).ConfigureAwait(false);
                    }
                }
                finally
                {
                    _refresh.Release();
                }
            }
        }
    }

    /// <summary>Bytes at the start of the image that read through from the parent where the clone has not written.</summary>
    public long ParentOverlap => Snap is { } s ? s.ParentOverlap : _header.Parent?.Overlap ?? 0;

    // ---- reads ---------------------------------------------------------------------------------

    public async ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        CheckRange(offset, buffer.Length);
        await ForEachExtentAsync(offset, buffer.Length, (e, token) => ReadObjectAsync(e, buffer.Slice((int)e.BufferOffset, e.Length), token), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs <paramref name="action"/> on each object's part of a range: inline for one object (most I/O), else up to 16 at once.</summary>
    private async Task ForEachExtentAsync(long offset, long length, Func<ObjectExtent, CancellationToken, Task> action, CancellationToken cancellationToken)
    {
        if ((offset >> _header.Order) == ((offset + length - 1) >> _header.Order))
        {
            if (length > 0)
                await action(new ObjectExtent(offset >> _header.Order, offset & (_header.ObjectSize - 1), (int)length, 0), cancellationToken).ConfigureAwait(false);
            return;
        }
        await Parallel.ForEachAsync(Extents.Map(offset, length, _header.Order), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (e, token) => await action(e, token).ConfigureAwait(false)).ConfigureAwait(false);
    }

    private async Task ReadObjectAsync(ObjectExtent e, Memory<byte> target, CancellationToken cancellationToken)
    {
        byte[] data;
        try
        {
            data = await _data.ReadAsync(_header.DataObject(e.ObjectNo), e.Offset, e.Length, cancellationToken).ConfigureAwait(false);
        }
        catch (RadosException ex) when (ex.Errno == "ENOENT")
        {
            await ReadParentAsync(e, target, cancellationToken).ConfigureAwait(false);
            return;
        }
        data.CopyTo(target);
        target.Span[data.Length..].Clear(); // past the object's end: zeros
    }

    /// <summary>What the parent holds for an extent the clone has not written (zeros past the overlap, or without a parent).</summary>
    private async Task ReadParentAsync(ObjectExtent e, Memory<byte> target, CancellationToken cancellationToken)
    {
        long start = (e.ObjectNo << _header.Order) + e.Offset;
        long inParent = _parent is null ? 0 : Math.Clamp(ParentOverlap - start, 0, e.Length);
        if (inParent > 0)
            await _parent!.ReadAsync(start, target[..(int)inParent], cancellationToken).ConfigureAwait(false);
        target.Span[(int)inParent..].Clear();
    }

    /// <summary>
    /// Byte ranges of data object <paramref name="objectNo"/> (relative to the object) that may differ from what the image
    /// held at snapshot <paramref name="fromSnap"/> — or, with 0, that may hold data at all; a clone adds what it still
    /// reads from its parent there. The OSDs answer from chunk versions, so nothing is read.
    /// </summary>
    public async Task<IReadOnlyList<(long Offset, long Length)>> ChangedExtentsAsync(long objectNo, ulong fromSnap, CancellationToken cancellationToken = default)
    {
        var (stat, extents) = await _data.DiffAsync(_header.DataObject(objectNo), fromSnap, cancellationToken).ConfigureAwait(false);
        long objectStart = objectNo << _header.Order;
        if (fromSnap != 0 || stat is not null || _parent is null || objectStart >= ParentOverlap)
            return extents;
        if (_parent.Header.Order != _header.Order)
            return [(0, _header.ObjectSize)]; // objects do not line up: say all of it
        long limit = ParentOverlap - objectStart;
        return [.. (await _parent.ChangedExtentsAsync(objectNo, 0, cancellationToken).ConfigureAwait(false))
            .Where(e => e.Offset < limit).Select(e => (e.Offset, Math.Min(e.Length, limit - e.Offset)))];
    }

    /// <summary>What the OSDs hold (and, for a clone, the parent where it still shows through), chunk by chunk: nothing is read.</summary>
    public async ValueTask<IReadOnlyList<(long Offset, long Length)>> AllocatedAsync(long offset, long length, CancellationToken cancellationToken)
    {
        CheckRange(offset, length);
        var found = new System.Collections.Concurrent.ConcurrentBag<(long, long)>();
        await ForEachExtentAsync(offset, length, async (e, token) =>
        {
            long objectStart = e.ObjectNo << _header.Order;
            foreach (var (at, bytes) in await ChangedExtentsAsync(e.ObjectNo, 0, token).ConfigureAwait(false))
                found.Add((objectStart + at, bytes));
        }, cancellationToken).ConfigureAwait(false);
        return BlockRanges.Union(found, offset, offset + length);
    }

    // ---- writes --------------------------------------------------------------------------------

    public async ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, bool fua, CancellationToken cancellationToken)
    {
        CheckWritable(offset, data.Length);
        await ForEachExtentAsync(offset, data.Length, (e, token) => WriteObjectAsync(e, ObjectOp.Write(e.Offset, data.Slice((int)e.BufferOffset, e.Length)), token), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask WriteZeroesAsync(long offset, long length, bool fua, CancellationToken cancellationToken)
    {
        CheckWritable(offset, length);
        await ForEachExtentAsync(offset, length, ZeroObjectAsync, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Trim frees space: the same as writing zeros here (whole objects are removed, tails truncated).</summary>
    public ValueTask TrimAsync(long offset, long length, CancellationToken cancellationToken) => WriteZeroesAsync(offset, length, false, cancellationToken);

    /// <summary>Every acknowledged write is already durable on all replicas: nothing is buffered here.</summary>
    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    private async Task ZeroObjectAsync(ObjectExtent e, CancellationToken cancellationToken)
    {
        string name = _header.DataObject(e.ObjectNo);
        long objectStart = e.ObjectNo << _header.Order;
        bool parentBelow = _parent is not null && objectStart < ParentOverlap;
        bool toEnd = e.Offset + e.Length == _header.ObjectSize || objectStart + e.Offset + e.Length >= _header.Size;
        if (!parentBelow && toEnd)
        {
            // Nothing shows through from a parent: drop the object, or cut it short.
            try
            {
                await OperateAsync(name, [e.Offset == 0 ? ObjectOp.Remove() : ObjectOp.Truncate(e.Offset)], cancellationToken).ConfigureAwait(false);
            }
            catch (RadosException ex) when (ex.Errno == "ENOENT")
            {
            }
            return;
        }
        await WriteObjectAsync(e, ObjectOp.Write(e.Offset, new byte[e.Length]), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One write step on one data object; in a clone, the parent's data is copied up first (once, atomically).</summary>
    private async Task WriteObjectAsync(ObjectExtent e, ObjectOp step, CancellationToken cancellationToken)
    {
        string name = _header.DataObject(e.ObjectNo);
        long objectStart = e.ObjectNo << _header.Order;
        if (_parent is not null && objectStart < _header.Parent!.Overlap && !_copiedUp.ContainsKey(e.ObjectNo))
        {
            var copy = new byte[Math.Min(_header.ObjectSize, _header.Parent.Overlap - objectStart)];
            await _parent.ReadAsync(objectStart, copy, cancellationToken).ConfigureAwait(false);
            // An all-zero parent range needs no bytes copied: the object's existence already hides the parent.
            ObjectOp[] ops = copy.AsSpan().ContainsAnyExcept((byte)0)
                ? [ObjectOp.Create(exclusive: true), ObjectOp.Write(0, copy), step]
                : [ObjectOp.Create(exclusive: true), step];
            try
            {
                await OperateAsync(name, ops, cancellationToken).ConfigureAwait(false);
                _copiedUp[e.ObjectNo] = true;
                return;
            }
            catch (RadosException ex) when (ex.Errno == "EEXIST")
            {
                _copiedUp[e.ObjectNo] = true; // copied up before: an ordinary write
            }
        }
        await OperateAsync(name, [step], cancellationToken).ConfigureAwait(false);
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > Size)
            throw new BlockDeviceException(BlockDeviceException.EINVAL, $"range {offset}+{length} is outside image {Spec} ({Size} bytes)");
    }

    private void CheckWritable(long offset, long length)
    {
        if (ReadOnly)
            throw new BlockDeviceException(BlockDeviceException.EPERM, $"{Spec} is a snapshot: read-only");
        CheckRange(offset, length);
    }

    public async ValueTask DisposeAsync()
    {
        if (_parent is not null)
            await _parent.DisposeAsync().ConfigureAwait(false);
    }
}
