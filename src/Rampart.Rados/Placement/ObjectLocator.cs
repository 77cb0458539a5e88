using System.IO.Hashing;
using System.Numerics;
using System.Text;
using Rampart.Rados.Crush;

namespace Rampart.Rados.Placement;

/// <summary>
/// Object name → PG → CRUSH input, the first two steps of Ceph's placement
/// (OSDMap::object_locator_to_pg, pg_pool_t::raw_pg_to_pg and raw_pg_to_pps).
/// </summary>
public static class ObjectLocator
{
    /// <summary>
    /// Stable 32-bit hash of an object name: XxHash32 (seed 0) of its UTF-8 bytes. Ceph uses
    /// rjenkins over the name; any fixed function works so long as every client uses the same one.
    /// </summary>
    public static uint HashName(string objectName) =>
        XxHash32.HashToUInt32(Encoding.UTF8.GetBytes(objectName));

    /// <summary>
    /// Ceph's ceph_stable_mod(x, b, bmask): x mod b such that growing b towards the next power of two
    /// splits one PG at a time (PG p's upper half moves to p + 2^(k-1)) instead of reshuffling all.
    /// </summary>
    public static uint StableMod(uint x, uint b, uint bmask) =>
        (x & bmask) < b ? x & bmask : x & (bmask >> 1);

    /// <summary>Ceph's pg_num_mask: the smallest 2^k - 1 ≥ pg_num - 1.</summary>
    public static uint PgNumMask(uint pgNum)
    {
        if (pgNum == 0)
            throw new ArgumentOutOfRangeException(nameof(pgNum), "pg_num must be >= 1");
        return pgNum == 1 ? 0 : (uint)((1UL << (32 - BitOperations.LeadingZeroCount(pgNum - 1))) - 1);
    }

    /// <summary>The PG that <paramref name="pg"/> split from when pg_num grew beyond <paramref name="oldPgNum"/> (itself if it existed then).
    /// Stable-mod makes it the old PG of every object the new PG holds.</summary>
    public static PgId Parent(PgId pg, uint oldPgNum) => pg with { Seed = StableMod(pg.Seed, oldPgNum, PgNumMask(oldPgNum)) };

    /// <summary>The PGs that <paramref name="parent"/> splits into when pg_num grows from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public static IEnumerable<PgId> Children(PgId parent, uint from, uint to)
    {
        for (uint seed = from; seed < to; seed++)
        {
            if (Parent(parent with { Seed = seed }, from) == parent)
                yield return parent with { Seed = seed };
        }
    }

    /// <summary>The PG of <paramref name="objectName"/> in a pool with <paramref name="pgNum"/> PGs.</summary>
    public static PgId Locate(long poolId, string objectName, uint pgNum) =>
        new(poolId, StableMod(HashName(objectName), pgNum, PgNumMask(pgNum)));

    /// <summary>
    /// The CRUSH input x for a PG, Ceph's raw_pg_to_pps with the HASHPSPOOL flag:
    /// crush_hash32_2(seed, pool), so PGs with the same seed in different pools land on different OSDs.
    /// (pgp_num is taken equal to pg_num, so the seed is used as is.)
    /// </summary>
    public static uint PlacementSeed(PgId pg) => CrushHash.Hash32(pg.Seed, unchecked((uint)pg.PoolId));

    /// <summary>PG → ordered OSD list (the "up" set before filtering down OSDs), primary first.</summary>
    public static int[] MapPg(CrushMap map, int ruleId, PgId pg, int size, IReadOnlyDictionary<int, double>? reweights = null) =>
        CrushMapper.Map(map, ruleId, PlacementSeed(pg), size, reweights);
}
