using System.Collections.Immutable;

namespace Rampart.Rados.Maps;

/// <summary>A monitor: its name ("a") and the address it listens on ("10.0.0.1:6789").</summary>
public sealed record MonitorInfo(string Name, string Address);

/// <summary>
/// One OSD as the map records it. <see cref="Reweight"/> is Ceph's `osd reweight`: 1 fully in,
/// 0 out, in between a partial share (tested by CRUSH at the leaf). <see cref="Host"/> and
/// <see cref="CrushWeight"/> repeat what the OSD booted with and where the monitors put it; CRUSH
/// placement reads the <see cref="Crush.CrushMap"/>, which stays authoritative.
/// <see cref="UpFrom"/> is the epoch at which the OSD last came up; <see cref="DownSince"/> the time
/// it was marked down (null while up), <see cref="DownAt"/> the epoch (0 while up, or not recorded). <see cref="AutoOut"/> is set when the monitors marked it out
/// on their own after the down-out interval, so its next boot marks it in again (Ceph's AUTOOUT state).
/// </summary>
public sealed record OsdInfo(
    int Id,
    string Address,
    string Host,
    double CrushWeight,
    bool Up,
    double Reweight,
    long UpFrom,
    DateTimeOffset? DownSince,
    bool AutoOut = false,
    long DownAt = 0)
{
    public bool In => Reweight > 0;
}

/// <summary>Pool flags (a subset of Ceph's pg_pool_t flags).</summary>
[Flags]
public enum PoolFlags
{
    None = 0,
    /// <summary>CRUSH input mixes the pool id in (always set; Ceph's FLAG_HASHPSPOOL).</summary>
    HashPsPool = 1,
    /// <summary>Snapshots are allocated by clients through the monitors (RBD's self-managed snaps).</summary>
    SelfManagedSnaps = 2,
    /// <summary>`osd pool set nodelete true`: deletion refused regardless of mon_allow_pool_delete.</summary>
    NoDelete = 4,
}

/// <summary>
/// A replicated pool. <see cref="SnapSeq"/> is the last snapshot id handed out (ids start at 1);
/// <see cref="RemovedSnaps"/> the ids deleted since. <see cref="SnapGeneration"/> counts the snapshots published
/// into an image header (or removed from one): an OSD refuses a guarded write whose snapshot context predates it,
/// so a writer never keeps writing without a snapshot taken meanwhile. <see cref="CreatedEpoch"/>: an OSD down since
/// before it cannot hold any of the pool's data. <see cref="SplitEpoch"/>: the epoch of the last pg_num increase (0: none),
/// when every OSD moves the objects of each PG whose new PG differs to that child PG. Compared by value, snapshots included.
/// </summary>
public sealed record PoolInfo(
    long Id,
    string Name,
    int Size,
    int MinSize,
    uint PgNum,
    int CrushRule,
    ulong SnapSeq,
    ImmutableSortedSet<ulong> RemovedSnaps,
    string? Application,
    PoolFlags Flags,
    ulong SnapGeneration = 0,
    long CreatedEpoch = 0,
    long SplitEpoch = 0)
{
    public const int MaxSize = 10;

    public bool Equals(PoolInfo? other) =>
        other is not null
        && Id == other.Id && Name == other.Name && Size == other.Size && MinSize == other.MinSize
        && PgNum == other.PgNum && CrushRule == other.CrushRule && SnapSeq == other.SnapSeq && SnapGeneration == other.SnapGeneration && CreatedEpoch == other.CreatedEpoch
        && SplitEpoch == other.SplitEpoch && Application == other.Application && Flags == other.Flags
        && RemovedSnaps.SequenceEqual(other.RemovedSnaps);

    public override int GetHashCode() => HashCode.Combine(Id, Name, Size, MinSize, PgNum, CrushRule, SnapSeq, RemovedSnaps.Count);
}
