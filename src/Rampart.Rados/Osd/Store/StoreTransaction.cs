using Rampart.Rados.Placement;
namespace Rampart.Rados.Osd.Store;

/// <summary>
/// The operations of one client op on one PG, committed as ONE atomic RocksDB batch together with
/// its PG log entry and PG info. Operations apply in order and see each other's effects.
/// <see cref="Version"/> becomes the version of every object touched; <see cref="Snaps"/> decides
/// which old chunk versions are kept for snapshots.
/// </summary>
public sealed class StoreTransaction(PgId pg, PgVersion version, SnapContext? snaps = null, DateTimeOffset? mtime = null)
{
    internal abstract record Op;
    /// <summary>An op that stores (or removes) an object's data: only in the PG the object belongs to.</summary>
    internal abstract record ObjectOp(string Name) : Op;
    internal sealed record WriteOp(string Name, long Offset, ReadOnlyMemory<byte> Data) : ObjectOp(Name);
    internal sealed record WriteFullOp(string Name, ReadOnlyMemory<byte> Data) : ObjectOp(Name);
    internal sealed record TruncateOp(string Name, long Size) : ObjectOp(Name);
    internal sealed record RemoveOp(string Name) : ObjectOp(Name);
    internal sealed record TouchOp(string Name) : ObjectOp(Name);
    internal sealed record OmapSetOp(string Name, IReadOnlyList<KeyValuePair<string, byte[]>> Pairs) : ObjectOp(Name);
    internal sealed record OmapRemoveOp(string Name, IReadOnlyList<string> Keys) : ObjectOp(Name);
    internal sealed record OmapClearOp(string Name) : ObjectOp(Name);
    internal sealed record LogOp(PgLogEntry Entry) : Op;
    internal sealed record InfoOp(byte[] Info) : Op;
    internal sealed record TrimLogOp(PgVersion Below) : Op;
    internal sealed record ReplaceObjectOp(string Name, byte[]? Meta, IReadOnlyList<KeyValuePair<byte[], byte[]>> Records) : ObjectOp(Name);
    internal sealed record ResetLogOp(IReadOnlyList<PgLogEntry> Entries, PgVersion After) : Op;

    public PgId Pg { get; } = pg;
    public PgVersion Version { get; } = version;
    public SnapContext Snaps { get; } = snaps ?? SnapContext.Empty;
    public DateTimeOffset MTime { get; } = mtime ?? DateTimeOffset.UtcNow;
    internal List<Op> Ops { get; } = [];

    public int Count => Ops.Count;

    public StoreTransaction Write(string name, long offset, ReadOnlyMemory<byte> data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        Ops.Add(new WriteOp(name, offset, data));
        return this;
    }

    public StoreTransaction Write(string name, long offset, byte[] data) => Write(name, offset, data.AsMemory());

    public StoreTransaction WriteFull(string name, ReadOnlyMemory<byte> data) => Add(new WriteFullOp(name, data));

    public StoreTransaction WriteFull(string name, byte[] data) => WriteFull(name, data.AsMemory());

    public StoreTransaction Truncate(string name, long size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        return Add(new TruncateOp(name, size));
    }

    public StoreTransaction Remove(string name) => Add(new RemoveOp(name));

    /// <summary>Creates the object empty if it does not exist; updates version and mtime.</summary>
    public StoreTransaction Touch(string name) => Add(new TouchOp(name));

    public StoreTransaction OmapSet(string name, IEnumerable<KeyValuePair<string, byte[]>> pairs) => Add(new OmapSetOp(name, pairs.ToArray()));

    public StoreTransaction OmapSet(string name, string key, byte[] value) => Add(new OmapSetOp(name, [new(key, value)]));

    public StoreTransaction OmapRemove(string name, IEnumerable<string> keys) => Add(new OmapRemoveOp(name, keys.ToArray()));

    public StoreTransaction OmapClear(string name) => Add(new OmapClearOp(name));

    public StoreTransaction AppendLog(PgLogEntry entry) => Add(new LogOp(entry));

    /// <summary>Replaces the PG info (opaque to the store).</summary>
    public StoreTransaction SetPgInfo(ReadOnlySpan<byte> info) => Add(new InfoOp(info.ToArray()));

    /// <summary>Deletes log entries with version &lt; <paramref name="below"/>.</summary>
    public StoreTransaction TrimLog(PgVersion below) => Add(new TrimLogOp(below));

    /// <summary>Replaces everything stored of the object (every version, omap) with an image taken by
    /// <see cref="ObjectStore.ExportObject"/> on another OSD; a null <paramref name="meta"/> removes it.</summary>
    public StoreTransaction ReplaceObject(string name, byte[]? meta, IReadOnlyList<KeyValuePair<byte[], byte[]>> records) =>
        Add(new ReplaceObjectOp(name, meta, records));

    /// <summary>Replaces the PG log after <paramref name="after"/> (all of it by default) with <paramref name="entries"/>:
    /// a recovered copy adopts the authoritative log from the last version both share.</summary>
    public StoreTransaction ResetLog(IReadOnlyList<PgLogEntry> entries, PgVersion after = default) => Add(new ResetLogOp(entries, after));

    private StoreTransaction Add(Op op)
    {
        Ops.Add(op);
        return this;
    }
}
