using System.Collections.Immutable;
using Rampart.Rados.Crush;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Maps;

/// <summary>
/// The cluster map, versioned by <see cref="Epoch"/>: monitors, OSDs, the CRUSH map, pools and
/// options. Immutable; the monitors produce each next epoch (see <c>Rampart.Rados.Mon.MonitorState</c>).
/// Compared by value (<see cref="Equals(ClusterMap?)"/>), CRUSH content included.
/// Placement queries (<see cref="UpSet"/>, <see cref="ActingSet"/>) are pure functions of the map,
/// so every client and OSD computes the same answer for the same epoch.
/// </summary>
public sealed record ClusterMap
{
    public required Guid Fsid { get; init; }
    public required long Epoch { get; init; }
    public ImmutableSortedDictionary<string, MonitorInfo> Monitors { get; init; } = ImmutableSortedDictionary.Create<string, MonitorInfo>(StringComparer.Ordinal);
    public ImmutableSortedDictionary<int, OsdInfo> Osds { get; init; } = ImmutableSortedDictionary<int, OsdInfo>.Empty;
    public required CrushMap Crush { get; init; }
    public ImmutableSortedDictionary<long, PoolInfo> Pools { get; init; } = ImmutableSortedDictionary<long, PoolInfo>.Empty;
    /// <summary>Highest pool id ever allocated (Ceph's pool_max): ids are not reused after a delete.</summary>
    public long PoolMax { get; init; }
    public ClusterOptions Options { get; init; } = ClusterOptions.Default;

    public const string DefaultRoot = "default";

    /// <summary>
    /// Epoch 1 of a new cluster: the given monitors, no OSDs, no pools, a CRUSH map with root
    /// "default" and Ceph's "replicated_rule" (id 0, host failure domain).
    /// </summary>
    public static ClusterMap Create(Guid fsid, IEnumerable<MonitorInfo> monitors)
    {
        var mons = ImmutableSortedDictionary.CreateBuilder<string, MonitorInfo>(StringComparer.Ordinal);
        foreach (var mon in monitors)
        {
            if (!mons.TryAdd(mon.Name, mon))
                throw new ArgumentException($"monitor '{mon.Name}' appears twice", nameof(monitors));
        }
        return new ClusterMap
        {
            Fsid = fsid,
            Epoch = 1,
            Monitors = mons.ToImmutable(),
            Crush = CrushMap.Empty.AddBucket(DefaultRoot, CrushBucketType.Root).AddRule(CrushRule.DefaultReplicated),
        };
    }

    public PoolInfo? FindPool(string name) => Pools.Values.FirstOrDefault(p => p.Name == name);

    public PoolInfo? FindPool(long id) => Pools.GetValueOrDefault(id);

    public OsdInfo? FindOsd(int id) => Osds.GetValueOrDefault(id);

    public int UpOsdCount => Osds.Values.Count(o => o.Up);

    public int InOsdCount => Osds.Values.Count(o => o.In);

    /// <summary>Every PG of the pool: pool.0 … pool.(pg_num-1).</summary>
    public IEnumerable<PgId> PgsOf(PoolInfo pool)
    {
        for (uint seed = 0; seed < pool.PgNum; seed++)
            yield return new PgId(pool.Id, seed);
    }

    public IEnumerable<PgId> PgsOf(string pool) => PgsOf(RequirePool(pool));

    /// <summary>The PG holding <paramref name="objectName"/> in <paramref name="pool"/>.</summary>
    public PgId Locate(PoolInfo pool, string objectName) => ObjectLocator.Locate(pool.Id, objectName, pool.PgNum);

    public PgId Locate(string pool, string objectName) => Locate(RequirePool(pool), objectName);

    /// <summary>
    /// CRUSH reweights (0 out … 1 in) for the OSDs that are not fully in. OSDs known to CRUSH but
    /// absent from <see cref="Osds"/> (never booted) count as out.
    /// </summary>
    public IReadOnlyDictionary<int, double> CrushReweights
    {
        get
        {
            var reweights = new Dictionary<int, double>();
            foreach (int device in Crush.Devices)
            {
                double reweight = Osds.TryGetValue(device, out var osd) ? osd.Reweight : 0;
                if (reweight < 1)
                    reweights[device] = reweight;
            }
            return reweights;
        }
    }

    /// <summary>
    /// CRUSH's answer for the PG (Ceph's raw set): up to size OSDs, primary first, honouring in/out but
    /// not up/down — a down OSD keeps its position until it is marked out.
    /// </summary>
    public int[] RawSet(PgId pg) => RawSet(pg, CrushReweights);

    /// <summary>The raw set without the OSDs that are down, order kept; the first is the primary.</summary>
    public int[] UpSet(PgId pg) => UpSet(pg, CrushReweights);

    /// <summary>The OSDs serving the PG. Without pg_temp overrides this is the up set.</summary>
    public int[] ActingSet(PgId pg) => UpSet(pg);

    /// <summary>The acting primary, or null when no OSD of the PG is up.</summary>
    public int? Primary(PgId pg) => UpSet(pg) is [int first, ..] ? first : null;

    /// <summary>Up sets of many PGs with the reweights computed once.</summary>
    public IEnumerable<(PgId Pg, int[] Up)> UpSets(IEnumerable<PgId> pgs)
    {
        var reweights = CrushReweights;
        foreach (var pg in pgs)
            yield return (pg, UpSet(pg, reweights));
    }

    private int[] RawSet(PgId pg, IReadOnlyDictionary<int, double> reweights)
    {
        var pool = Pools.GetValueOrDefault(pg.PoolId) ?? throw new ArgumentException($"pool {pg.PoolId} does not exist", nameof(pg));
        if (pg.Seed >= pool.PgNum)
            throw new ArgumentException($"pg {pg} does not exist (pool '{pool.Name}' has pg_num {pool.PgNum})", nameof(pg));
        if (Crush.FindRule(pool.CrushRule) is null)
            return [];
        return ObjectLocator.MapPg(Crush, pool.CrushRule, pg, pool.Size, reweights);
    }

    private int[] UpSet(PgId pg, IReadOnlyDictionary<int, double> reweights) =>
        RawSet(pg, reweights).Where(osd => Osds.TryGetValue(osd, out var info) && info.Up).ToArray();

    private PoolInfo RequirePool(string name) =>
        FindPool(name) ?? throw new ArgumentException($"unrecognized pool '{name}'", nameof(name));

    public bool Equals(ClusterMap? other) =>
        other is not null
        && Fsid == other.Fsid && Epoch == other.Epoch && PoolMax == other.PoolMax
        && Monitors.Values.SequenceEqual(other.Monitors.Values)
        && Osds.Values.SequenceEqual(other.Osds.Values)
        && Pools.Values.SequenceEqual(other.Pools.Values)
        && Options.Equals(other.Options)
        && Crush.ContentEquals(other.Crush);

    public override int GetHashCode() => HashCode.Combine(Fsid, Epoch, Osds.Count, Pools.Count);
}
