using Rampart.Rados.Placement;
namespace Rampart.Rados.Osd.Store;

/// <summary>A PG version (Ceph's eversion_t): epoch of the primary's map, then a sequence within the PG.</summary>
public readonly record struct PgVersion(uint Epoch, ulong Seq) : IComparable<PgVersion>
{
    public static readonly PgVersion Zero = default;
    public int CompareTo(PgVersion other) => Epoch != other.Epoch ? Epoch.CompareTo(other.Epoch) : Seq.CompareTo(other.Seq);
    public static bool operator <(PgVersion a, PgVersion b) => a.CompareTo(b) < 0;
    public static bool operator >(PgVersion a, PgVersion b) => a.CompareTo(b) > 0;
    public static bool operator <=(PgVersion a, PgVersion b) => a.CompareTo(b) <= 0;
    public static bool operator >=(PgVersion a, PgVersion b) => a.CompareTo(b) >= 0;
    public override string ToString() => $"{Epoch}'{Seq}";
}

/// <summary>
/// The snap context a write carries: <see cref="Seq"/> is the newest snapshot id the writer knows,
/// <see cref="Snaps"/> the snapshot ids that still exist (any order).
/// </summary>
public sealed record SnapContext(ulong Seq, IReadOnlyList<ulong> Snaps)
{
    public static readonly SnapContext Empty = new(0, Array.Empty<ulong>());
}

/// <summary>Object metadata as seen at head or at a snapshot.</summary>
public sealed record ObjectStat(string Name, long Size, PgVersion Version, DateTimeOffset MTime);

public enum PgLogOp : byte
{
    Modify = 1,
    Delete = 2,
    Clone = 3,
    Error = 4,
}

/// <summary>
/// One PG log entry. <see cref="ReqId"/> is the client's request id (client, tid), kept so a resent
/// request is recognised and answered instead of applied twice; empty when none.
/// </summary>
public sealed record PgLogEntry(PgVersion Version, PgLogOp Op, string Object, string ReqId, PgVersion PriorVersion);

/// <summary>Sizes and options of an <see cref="ObjectStore"/>.</summary>
public sealed record ObjectStoreOptions
{
    /// <summary>
    /// 16 KiB: a 4 KiB write inside an image's 4 MiB object rewrites one chunk, so smaller is cheaper, while each
    /// chunk is a key, so smaller costs large I/O more (bench/rbd, 4 / 16 / 64 KiB: 4 KiB random writes 1967 / 1377 /
    /// 580 IOPS, random reads 12.8k / 14.4k / 7.0k, 4 MiB writes 34 / 48 / 46 MB/s).
    /// </summary>
    public const int DefaultChunkSize = 16 * 1024;

    /// <summary>Chunk size for new stores; an existing store keeps the size it was created with.</summary>
    public int ChunkSize { get; init; } = DefaultChunkSize;

    /// <summary>Most transactions merged into one synced write.</summary>
    public int MaxGroupSize { get; init; } = 256;

    /// <summary>Sync every group commit (fsync of the WAL). Off only for tests that do not care.</summary>
    public bool Sync { get; init; } = true;

    /// <summary>RocksDB block cache for data, index and filter blocks.</summary>
    public long BlockCacheBytes { get; init; } = 128L << 20;
}

/// <summary>One object of a PG as deep scrub sees it: its digest is CRC-32C over the logical content.</summary>
public sealed record ScrubObject(string Name, long Size, PgVersion Version, uint DataDigest, uint OmapDigest);

/// <summary>A stored chunk whose CRC-32C does not match its data.</summary>
public sealed class ChunkCorruptException(PgId pg, string objectName, long chunkIndex, ulong snapTag, uint expected, uint actual)
    : Exception($"chunk {chunkIndex} (snap tag {snapTag}) of object '{objectName}' in PG {pg} is corrupt: stored crc32c {expected:x8}, data has {actual:x8}")
{
    public PgId Pg { get; } = pg;
    public string ObjectName { get; } = objectName;
    public long ChunkIndex { get; } = chunkIndex;
    public ulong SnapTag { get; } = snapTag;
}

/// <summary>The object does not exist (at head, or at the snapshot asked for).</summary>
public sealed class ObjectNotFoundException(PgId pg, string objectName, ulong? snap)
    : Exception(snap is { } s ? $"object '{objectName}' does not exist in PG {pg} at snapshot {s}" : $"object '{objectName}' does not exist in PG {pg}")
{
    public PgId Pg { get; } = pg;
    public string ObjectName { get; } = objectName;
}
