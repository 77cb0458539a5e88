namespace Rampart.Rados.Placement;

/// <summary>Default pg_num for a new pool.</summary>
public static class PgCount
{
    /// <summary>Ceph's guideline of about 100 PG replicas per OSD.</summary>
    public const int TargetPgsPerOsd = 100;

    /// <summary>
    /// osds × 100 / size / pools, rounded to a power of two the way Ceph's PG calculator does:
    /// take the power of two at or below the value, unless that is more than 25% below it, then the
    /// next one up. So 3×100/3/3 = 33.3 → 32, 40 → 32, 48 → 64. At least 1.
    /// </summary>
    public static uint Default(int osds, int size, int pools)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(osds);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(pools, 1);

        double target = (double)osds * TargetPgsPerOsd / size / pools;
        if (target <= 1)
            return 1;
        uint below = 1;
        while ((double)below * 2 <= target && below < (1u << 30))
            below *= 2;
        return below < 0.75 * target ? below * 2 : below;
    }
}
