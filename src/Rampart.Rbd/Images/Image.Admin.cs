using Rampart.Rados.Client;
using Rampart.Rados.Osd;

namespace Rampart.Rbd.Images;

/// <summary>Changes to an image as a whole: resize, snapshots, flatten, usage. All made through a head handle.</summary>
public sealed partial class Image
{
    private RbdPool Pool => new(_client, Spec.Pool);

    private void RequireHead(string what)
    {
        if (Snap is not null)
            throw new RbdException("EROFS", $"cannot {what} through snapshot {Spec}");
    }

    private Task SetHeaderAsync(IReadOnlyList<KeyValuePair<string, byte[]>> set, IReadOnlyList<string>? remove, CancellationToken cancellationToken)
    {
        List<ObjectOp> ops = [];
        if (remove is { Count: > 0 }) ops.Add(ObjectOp.OmapRemove(remove));
        if (set.Count > 0) ops.Add(ObjectOp.OmapSet(set));
        return Pool.Io.OperateAsync(_header.HeaderName, ops, cancellationToken);
    }

    private SnapRecord RequireSnap(string name) =>
        _header.FindSnap(name) ?? throw new RbdException("ENOENT", $"image {Spec} has no snapshot '{name}'");

    /// <summary>Grows the image, or — with <paramref name="allowShrink"/> — shrinks it, dropping the data past the new end.</summary>
    public async Task ResizeAsync(long size, bool allowShrink, CancellationToken cancellationToken = default)
    {
        RequireHead("resize");
        if (size < 0)
            throw new RbdException("EINVAL", "the size must not be negative");
        var header = _header;
        if (size < header.Size)
        {
            if (!allowShrink)
                throw new RbdException("EINVAL", $"shrinking {Spec} from {header.Size} to {size} bytes loses data: pass --allow-shrink");
            long keep = Extents.ObjectCount(size, header.Order), count = Extents.ObjectCount(header.Size, header.Order);
            await Parallel.ForAsync(keep, count, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (objectNo, token) =>
            {
                try { await OperateAsync(header.DataObject(objectNo), [ObjectOp.Remove()], token).ConfigureAwait(false); }
                catch (RadosException e) when (e.Errno == "ENOENT") { }
            }).ConfigureAwait(false);
            long tail = size & (header.ObjectSize - 1);
            if (tail != 0)
                await WriteZeroesAsync(size, Math.Min(header.Size, (keep << header.Order)) - size, false, cancellationToken).ConfigureAwait(false);
        }
        List<KeyValuePair<string, byte[]>> set = [ImageHeader.U64(ImageHeader.SizeKey, (ulong)size)];
        if (header.Parent is { } parent && parent.Overlap > size)
            set.Add(ImageHeader.ParentEntry(parent with { Overlap = size })); // the parent must not show through past a shrink again
        await SetHeaderAsync(set, null, cancellationToken).ConfigureAwait(false);
        await RefreshAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Takes a snapshot: O(1) — the OSDs keep a chunk's old version only when it is next overwritten.</summary>
    public async Task<SnapRecord> CreateSnapAsync(string name, CancellationToken cancellationToken = default)
    {
        RequireHead("take a snapshot");
        if (name.Length is 0 or > 250 || name.IndexOfAny(['/', '@', '\0']) >= 0)
            throw new RbdException("EINVAL", $"'{name}' is not a valid snapshot name");
        await RefreshAsync(cancellationToken).ConfigureAwait(false);
        if (_header.FindSnap(name) is not null)
            throw new RbdException("EEXIST", $"snapshot '{name}' already exists in {Spec}");
        ulong id = await _client.CreateSelfManagedSnapAsync(Spec.Pool, cancellationToken).ConfigureAwait(false);
        var snap = new SnapRecord(id, name, _header.Size, false, DateTimeOffset.UtcNow, _header.Parent?.Overlap ?? 0);
        await SetHeaderAsync([ImageHeader.Snap(snap), ImageHeader.U64(ImageHeader.SnapSeqKey, id)], null, cancellationToken).ConfigureAwait(false);
        // Only now that the header names it: writers with an older context are refused from here on and reread it.
        await _client.PublishSnapsAsync(Spec.Pool, cancellationToken).ConfigureAwait(false);
        await RefreshAsync(cancellationToken).ConfigureAwait(false);
        return snap;
    }

    public async Task RemoveSnapAsync(string name, CancellationToken cancellationToken = default)
    {
        RequireHead("remove a snapshot");
        var snap = RequireSnap(name);
        if (snap.Protected)
            throw new RbdException("EBUSY", $"snapshot '{name}' of {Spec.WithoutSnap()} is protected from removal: unprotect it first");
        await SetHeaderAsync([], [ImageHeader.SnapKey(snap.Id)], cancellationToken).ConfigureAwait(false);
        await _client.PublishSnapsAsync(Spec.Pool, cancellationToken).ConfigureAwait(false);
        await _client.RemoveSelfManagedSnapAsync(Spec.Pool, snap.Id, cancellationToken).ConfigureAwait(false);
        await RefreshAsync(cancellationToken).ConfigureAwait(false);
        if (_header.Parent is { Overlap: 0 } && !SnapshotsReadParent)
            await DetachParentAsync(cancellationToken).ConfigureAwait(false); // a flattened clone's last snapshot that read the parent
    }

    /// <summary>Removes every unprotected snapshot; a protected one stops the purge with the reason.</summary>
    public async Task PurgeSnapsAsync(CancellationToken cancellationToken = default)
    {
        if (_header.Snaps.FirstOrDefault(s => s.Protected) is { } guarded)
            throw new RbdException("EBUSY", $"snapshot '{guarded.Name}' of {Spec.WithoutSnap()} is protected: unprotect it before a purge");
        foreach (var snap in _header.Snaps.ToList())
            await RemoveSnapAsync(snap.Name, cancellationToken).ConfigureAwait(false);
    }

    public async Task SetProtectedAsync(string name, bool protect, CancellationToken cancellationToken = default)
    {
        RequireHead(protect ? "protect a snapshot" : "unprotect a snapshot");
        var snap = RequireSnap(name);
        if (snap.Protected == protect)
            throw new RbdException("EINVAL", $"snapshot '{name}' of {Spec.WithoutSnap()} is already {(protect ? "protected" : "unprotected")}");
        if (!protect && await ChildrenAsync(name, cancellationToken).ConfigureAwait(false) is { Count: > 0 } children)
            throw new RbdException("EBUSY", $"snapshot '{name}' of {Spec.WithoutSnap()} has {children.Count} clone(s) ({string.Join(", ", children)}): flatten or remove them first");
        await SetHeaderAsync([ImageHeader.Snap(snap with { Protected = protect })], null, cancellationToken).ConfigureAwait(false);
        await RefreshAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The clones of snapshot <paramref name="name"/>, in every pool, as pool/image.</summary>
    public async Task<IReadOnlyList<string>> ChildrenAsync(string name, CancellationToken cancellationToken = default)
    {
        var snap = RequireSnap(name);
        return await Pool.ChildrenAsync(_header.Id, snap.Id, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Makes head what snapshot <paramref name="name"/> was, object by object (objects that did not exist then are removed).</summary>
    public async Task RollbackAsync(string name, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        RequireHead("roll back");
        var snap = RequireSnap(name);
        var header = _header;
        var atSnap = new IoContext(_client, _data.Pool) { ReadSnap = snap.Id };
        long count = Extents.ObjectCount(Math.Max(header.Size, snap.Size), header.Order), done = 0;
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (objectNo, token) =>
        {
            string objectName = header.DataObject(objectNo);
            byte[]? then;
            try { then = await atSnap.ReadAsync(objectName, 0, header.ObjectSize, token).ConfigureAwait(false); }
            catch (RadosException e) when (e.Errno == "ENOENT") { then = null; }
            try { await OperateAsync(objectName, [then is null ? ObjectOp.Remove() : ObjectOp.WriteFull(then)], token).ConfigureAwait(false); }
            catch (RadosException e) when (e.Errno == "ENOENT") { }
            progress?.Report((double)Interlocked.Increment(ref done) / count);
        }).ConfigureAwait(false);
        List<KeyValuePair<string, byte[]>> set = [ImageHeader.U64(ImageHeader.SizeKey, (ulong)snap.Size)];
        if (header.Parent is { } parent)
            set.Add(ImageHeader.ParentEntry(parent with { Overlap = snap.ParentOverlap }));
        await SetHeaderAsync(set, null, cancellationToken).ConfigureAwait(false);
        _copiedUp.Clear();
        await RefreshAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Copies up everything head still reads from its parent, then detaches head from it. Snapshots of the clone keep
    /// reading the parent where they did (as in Ceph without deep-flatten): while one does, the clone stays the parent
    /// snapshot's child (head's overlap is set to 0), and the last one removed detaches it for good.
    /// </summary>
    public async Task FlattenAsync(IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        RequireHead("flatten");
        if (_header.Parent is not { } parent || _parent is null)
            throw new RbdException("EINVAL", $"image {Spec} is not a clone");
        if (parent.Overlap == 0)
            throw new RbdException("EINVAL", $"image {Spec} reads nothing from its parent any more (only its snapshots do)");
        long count = Extents.ObjectCount(parent.Overlap, _header.Order), done = 0;
        // With the head's snap context: a snapshot of the clone does not see these copies and goes on reading the parent.
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (objectNo, token) =>
        {
            await WriteObjectAsync(new ObjectExtent(objectNo, 0, 0, 0), ObjectOp.Create(), token).ConfigureAwait(false);
            progress?.Report((double)Interlocked.Increment(ref done) / count);
        }).ConfigureAwait(false);
        if (SnapshotsReadParent)
        {
            await SetHeaderAsync([ImageHeader.ParentEntry(parent with { Overlap = 0 })], null, cancellationToken).ConfigureAwait(false);
            await RefreshAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await DetachParentAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private bool SnapshotsReadParent => _header.Snaps.Any(s => s.ParentOverlap > 0);

    private async Task DetachParentAsync(CancellationToken cancellationToken)
    {
        var parent = _header.Parent!;
        await SetHeaderAsync([], [ImageHeader.ParentKey], cancellationToken).ConfigureAwait(false);
        await Pool.UnregisterChildAsync(parent, _header.Id, cancellationToken).ConfigureAwait(false);
        if (_parent is { } old)
        {
            _parent = null;
            await old.DisposeAsync().ConfigureAwait(false);
        }
        await RefreshAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Bytes the image's data objects hold at head (what `rbd du` calls used; provisioned is <see cref="Size"/>).</summary>
    public async Task<long> UsedBytesAsync(CancellationToken cancellationToken = default)
    {
        string prefix = $"rbd_data.{_header.Id}.";
        long used = 0;
        await foreach (var name in Pool.Io.ListObjectsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!name.StartsWith(prefix, StringComparison.Ordinal)) continue;
            try { used += (await _data.StatAsync(name, cancellationToken).ConfigureAwait(false)).Size; }
            catch (RadosException e) when (e.Errno == "ENOENT") { }
        }
        return used;
    }
}
