using System.Security.Cryptography;
using System.Text;
using Rampart.Rados.Client;
using Rampart.Rados.Osd;

namespace Rampart.Rbd.Images;

/// <summary>
/// The images of one pool (librbd's RBD class). The pool's <c>rbd_directory</c> object maps names to ids in
/// its omap (name_NAME → id, id_ID → name); its <c>rbd_children</c> records which of its images are clones of which
/// snapshot, so a protected snapshot with clones cannot go.
/// </summary>
public sealed class RbdPool
{
    public const string Directory = "rbd_directory", Children = "rbd_children";

    public RbdPool(RadosClient client, string pool)
    {
        Client = client;
        Io = client.OpenPool(pool);
    }

    public RadosClient Client { get; }

    /// <summary>The pool, with no snapshot context (header and directory objects are not snapshotted).</summary>
    public IoContext Io { get; }

    public string Name => Io.Pool.Name;

    public async Task<string> FindIdAsync(string name, CancellationToken cancellationToken = default) =>
        await TryFindIdAsync(name, cancellationToken).ConfigureAwait(false)
        ?? throw new RbdException("ENOENT", $"image '{name}' does not exist in pool '{Name}'");

    private async Task<string?> TryFindIdAsync(string name, CancellationToken cancellationToken)
    {
        var entries = await DirectoryGetAsync($"name_{name}", cancellationToken).ConfigureAwait(false);
        return entries is null ? null : Encoding.UTF8.GetString(entries);
    }

    public async Task<string?> FindNameAsync(string id, CancellationToken cancellationToken = default) =>
        await DirectoryGetAsync($"id_{id}", cancellationToken).ConfigureAwait(false) is { } name ? Encoding.UTF8.GetString(name) : null;

    private async Task<byte[]?> DirectoryGetAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var values = await Io.OmapGetAsync(Directory, [key], cancellationToken).ConfigureAwait(false);
            return values.GetValueOrDefault(key);
        }
        catch (RadosException e) when (e.Errno == "ENOENT")
        {
            return null;
        }
    }

    /// <summary>Image names, sorted.</summary>
    public async Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var entries = await Io.OmapListAsync(Directory, cancellationToken).ConfigureAwait(false);
            return [.. entries.Where(e => e.Key.StartsWith("name_", StringComparison.Ordinal)).Select(e => e.Key[5..])];
        }
        catch (RadosException e) when (e.Errno == "ENOENT")
        {
            return [];
        }
    }

    public async Task<ImageHeader> ReadHeaderAsync(string id, CancellationToken cancellationToken = default)
    {
        try
        {
            return ImageHeader.Decode(id, await Io.OmapListAsync(ImageHeader.HeaderObject(id), cancellationToken).ConfigureAwait(false));
        }
        catch (RadosException e) when (e.Errno == "ENOENT")
        {
            throw new RbdException("ENOENT", $"image {id} has no header in pool '{Name}'");
        }
    }

    /// <summary>Creates an image (a clone when <paramref name="parent"/> is set): header first, then the name, so a name never points nowhere.</summary>
    public Task<string> CreateAsync(string name, long size, int order = ImageHeader.DefaultOrder, CancellationToken cancellationToken = default) =>
        CreateAsync(name, size, order, null, NewId(), cancellationToken);

    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    private async Task<string> CreateAsync(string name, long size, int order, ParentRecord? parent, string id, CancellationToken cancellationToken)
    {
        ValidateName(name);
        if (size < 0)
            throw new RbdException("EINVAL", "the size must not be negative");
        if (order is < ImageHeader.MinOrder or > ImageHeader.MaxOrder)
            throw new RbdException("EINVAL", $"the object size must be 4 KiB .. 32 MiB, a power of two (order {ImageHeader.MinOrder}..{ImageHeader.MaxOrder})");
        if (await TryFindIdAsync(name, cancellationToken).ConfigureAwait(false) is not null)
            throw new RbdException("EEXIST", $"image '{name}' already exists in pool '{Name}'");
        var header = new ImageHeader(id, size, order, 0, DateTimeOffset.UtcNow, parent, []);
        await Io.OperateAsync(header.HeaderName, [ObjectOp.Create(exclusive: true), ObjectOp.OmapSet(header.Entries())], cancellationToken).ConfigureAwait(false);
        await Io.OperateAsync(Directory, [ObjectOp.Create(), ObjectOp.OmapSet([new($"name_{name}", Encoding.UTF8.GetBytes(id)), new($"id_{id}", Encoding.UTF8.GetBytes(name))])], cancellationToken).ConfigureAwait(false);
        return id;
    }

    public async Task RenameAsync(string from, string to, CancellationToken cancellationToken = default)
    {
        ValidateName(to);
        string id = await FindIdAsync(from, cancellationToken).ConfigureAwait(false);
        if (await TryFindIdAsync(to, cancellationToken).ConfigureAwait(false) is not null)
            throw new RbdException("EEXIST", $"image '{to}' already exists in pool '{Name}'");
        await Io.OperateAsync(Directory, [ObjectOp.OmapRemove([$"name_{from}"]), ObjectOp.OmapSet([new($"name_{to}", Encoding.UTF8.GetBytes(id)), new($"id_{id}", Encoding.UTF8.GetBytes(to))])], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes an image and its data; refused while it has snapshots (which clones would hang off).</summary>
    public async Task RemoveAsync(string name, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        string id = await FindIdAsync(name, cancellationToken).ConfigureAwait(false);
        var header = await ReadHeaderAsync(id, cancellationToken).ConfigureAwait(false);
        if (header.Snaps.Count > 0)
            throw new RbdException("ENOTEMPTY", $"image '{name}' has {header.Snaps.Count} snapshot(s) - these must be deleted with 'rbd snap purge' before the image can be removed");
        long count = Extents.ObjectCount(header.Size, header.Order), done = 0;
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (objectNo, token) =>
        {
            try { await Io.RemoveAsync(header.DataObject(objectNo), token).ConfigureAwait(false); }
            catch (RadosException e) when (e.Errno == "ENOENT") { }
            progress?.Report((double)Interlocked.Increment(ref done) / count);
        }).ConfigureAwait(false);
        if (header.Parent is { } parent)
            await UnregisterChildAsync(parent, id, cancellationToken).ConfigureAwait(false);
        await Io.OperateAsync(Directory, [ObjectOp.OmapRemove([$"name_{name}", $"id_{id}"])], cancellationToken).ConfigureAwait(false);
        await Io.RemoveAsync(header.HeaderName, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Clones protected snapshot <paramref name="parent"/> into a new image <paramref name="child"/> of this pool:
    /// O(1) whatever the size — only a header and two omap entries are written.
    /// </summary>
    public async Task CloneAsync(ImageSpec parent, string child, int? order = null, CancellationToken cancellationToken = default)
    {
        if (parent.Snap is not { } snapName)
            throw new RbdException("EINVAL", $"clone needs a snapshot of the parent: {parent}@SNAP");
        var parentPool = new RbdPool(Client, parent.Pool);
        string parentId = await parentPool.FindIdAsync(parent.Image, cancellationToken).ConfigureAwait(false);
        var header = await parentPool.ReadHeaderAsync(parentId, cancellationToken).ConfigureAwait(false);
        var snap = header.FindSnap(snapName) ?? throw new RbdException("ENOENT", $"image {parent.WithoutSnap()} has no snapshot '{snapName}'");
        if (!snap.Protected)
            throw new RbdException("EINVAL", $"parent snapshot {parent} must be protected before cloning (rbd snap protect {parent})");
        var link = new ParentRecord(parentPool.Io.Pool.Id, parentId, snap.Id, snap.Size);
        // Recorded before the clone exists: a crash in between leaves a stale record (which only delays unprotect), never an unrecorded clone.
        string id = NewId();
        await RegisterChildAsync(link, id, cancellationToken).ConfigureAwait(false);
        try
        {
            await CreateAsync(child, snap.Size, order ?? header.Order, link, id, cancellationToken).ConfigureAwait(false);
        }
        catch (RadosException)
        {
            await UnregisterChildAsync(link, id, cancellationToken).ConfigureAwait(false);
            throw;
        }
    }

    // ---- clone bookkeeping ---------------------------------------------------------------------

    private static string ParentKey(long poolId, string imageId, ulong snapId) => $"{poolId}/{imageId}@{snapId:x16}/";

    /// <summary>Clone records live in the CHILD's pool (key PARENTPOOL/PARENTID@SNAPID/CHILDID), so a client that may only
    /// read the parent's pool (Cinder on Glance's images) can still clone.</summary>
    private static string ChildKey(ParentRecord parent, string childId) => ParentKey(parent.PoolId, parent.ImageId, parent.SnapId) + childId;

    internal Task RegisterChildAsync(ParentRecord parent, string childId, CancellationToken cancellationToken) =>
        Io.OperateAsync(Children, [ObjectOp.Create(), ObjectOp.OmapSet([new(ChildKey(parent, childId), [])])], cancellationToken);

    internal async Task UnregisterChildAsync(ParentRecord parent, string childId, CancellationToken cancellationToken)
    {
        try
        {
            await Io.OmapRemoveAsync(Children, [ChildKey(parent, childId)], cancellationToken).ConfigureAwait(false);
        }
        catch (RadosException e) when (e.Errno == "ENOENT")
        {
        }
    }

    /// <summary>
    /// The clones of snapshot <paramref name="snapId"/> of image <paramref name="imageId"/> of this pool, as pool/name,
    /// from the clone records of every pool. A pool this client cannot read is an error, not "no clones": unprotecting
    /// on a guess could strand a clone.
    /// </summary>
    public async Task<IReadOnlyList<string>> ChildrenAsync(string imageId, ulong snapId, CancellationToken cancellationToken = default)
    {
        string prefix = ParentKey(Io.Pool.Id, imageId, snapId);
        var children = new List<string>();
        foreach (var pool in Client.Map.Pools.Values.OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            var other = new RbdPool(Client, pool.Name);
            IReadOnlyList<KeyValuePair<string, byte[]>> entries;
            try
            {
                entries = await other.Io.OmapListAsync(Children, cancellationToken).ConfigureAwait(false);
            }
            catch (RadosException e) when (e.Errno == "ENOENT")
            {
                continue;
            }
            catch (RadosException e) when (e.Errno == "EACCES")
            {
                throw new RbdException("EACCES", $"cannot check pool '{pool.Name}' for clones of this snapshot ({Client.Entity} may not read it)");
            }
            foreach (var entry in entries.Where(e => e.Key.StartsWith(prefix, StringComparison.Ordinal)))
            {
                string childId = entry.Key[prefix.Length..];
                children.Add($"{pool.Name}/{await other.FindNameAsync(childId, cancellationToken).ConfigureAwait(false) ?? childId}");
            }
        }
        return children;
    }

    private static void ValidateName(string name)
    {
        if (name.Length is 0 or > 250 || name.IndexOfAny(['/', '@', '\0']) >= 0)
            throw new RbdException("EINVAL", $"'{name}' is not a valid image name (1-250 characters, no '/', '@')");
    }
}
