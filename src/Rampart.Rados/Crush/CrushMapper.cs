namespace Rampart.Rados.Crush;

/// <summary>
/// Maps a placement seed x to an ordered list of distinct OSDs, following Ceph's
/// crush_do_rule / crush_choose_firstn (src/crush/mapper.c) with the "optimal" tunables:
/// choose_total_tries 50, chooseleaf_descend_once 1, chooseleaf_vary_r 1, chooseleaf_stable 1,
/// no local retries. Buckets are straw2.
/// </summary>
public static class CrushMapper
{
    /// <summary>
    /// Runs rule <paramref name="ruleId"/> for input <paramref name="x"/> and returns up to
    /// <paramref name="size"/> distinct OSDs, primary first; fewer when the hierarchy has fewer
    /// failure domains (or in OSDs) than <paramref name="size"/>.
    /// <paramref name="reweights"/> is Ceph's `osd reweight` (0 = out, 1 = fully in); a missing entry
    /// is 1. It is tested at the leaf with a hash of (x, osd), so lowering one OSD's reweight only
    /// moves PGs that OSD held.
    /// </summary>
    public static int[] Map(CrushMap map, int ruleId, uint x, int size, IReadOnlyDictionary<int, double>? reweights = null)
    {
        var rule = map.FindRule(ruleId) ?? throw new ArgumentException($"crush rule {ruleId} does not exist", nameof(ruleId));
        if (size <= 0 || map.FindBucket(rule.Root) is not { } root)
            return [];

        var failureDomains = new int[size];
        var leaves = new int[size];
        var mapping = new Mapping(map, x, reweights);
        int count = mapping.ChooseFirstN(
            root, size, rule.FailureDomainType, failureDomains, leaves, outPos: 0, outSize: size,
            tries: CrushMap.ChooseTotalTries + 1, recurseTries: 1, recurseToLeaf: true, parentR: 0);
        return leaves.AsSpan(0, count).ToArray();
    }

    /// <summary>Ceph's bucket_straw2_choose: each item draws ln(u) / weight, the largest draw wins.</summary>
    internal static int Straw2Choose(CrushBucket bucket, uint x, uint r)
    {
        var items = bucket.Items;
        int high = 0;
        double highDraw = 0;
        for (int i = 0; i < items.Length; i++)
        {
            // ln ≤ 0, so dividing by a larger weight brings the draw closer to 0: higher odds.
            double draw = items[i].Weight > 0
                ? CrushLn.Table[CrushHash.Hash32(x, (uint)items[i].Id, r) & 0xffff] / items[i].Weight
                : double.NegativeInfinity;
            if (i == 0 || draw > highDraw)
            {
                high = i;
                highDraw = draw;
            }
        }
        return items[high].Id;
    }

    /// <summary>Ceph's is_out: reweight as 16.16, probabilistic rejection keyed by (x, osd).</summary>
    internal static bool IsOut(IReadOnlyDictionary<int, double>? reweights, int osd, uint x)
    {
        if (reweights is null || !reweights.TryGetValue(osd, out double reweight))
            return false;
        uint weight = (uint)Math.Round(Math.Clamp(reweight, 0.0, 1.0) * 0x10000);
        if (weight >= 0x10000)
            return false;
        if (weight == 0)
            return true;
        return (CrushHash.Hash32(x, (uint)osd) & 0xffff) >= weight;
    }

    private readonly struct Mapping(CrushMap map, uint x, IReadOnlyDictionary<int, double>? reweights)
    {
        /// <summary>
        /// crush_choose_firstn with stable = 1 and vary_r = 1. Fills <paramref name="output"/> with items of
        /// <paramref name="type"/> from <paramref name="outPos"/> on; with <paramref name="recurseToLeaf"/> it
        /// also descends from each to one OSD in <paramref name="leaves"/>. Returns the new outPos.
        /// </summary>
        public int ChooseFirstN(
            CrushBucket bucket, int numRep, CrushBucketType type, int[] output, int[]? leaves,
            int outPos, int outSize, int tries, int recurseTries, bool recurseToLeaf, int parentR)
        {
            int count = outSize;
            for (int rep = 0; rep < numRep && count > 0; rep++)
            {
                int fTotal = 0;
                bool skipRep = false;
                int item = 0;
                bool retryDescent;
                do
                {
                    retryDescent = false;
                    var current = bucket;
                    bool retryBucket;
                    do
                    {
                        retryBucket = false;
                        bool collide = false;
                        bool reject;
                        // r' = r + f_total: each failed descent draws afresh from the top.
                        int r = rep + parentR + fTotal;

                        if (current.Items.Length == 0)
                        {
                            reject = true;
                        }
                        else
                        {
                            item = Straw2Choose(current, x, (uint)r);
                            var itemType = item < 0 && map.TryGetBucket(item, out var chosen) ? chosen.Type : CrushBucketType.Osd;
                            if (itemType != type)
                            {
                                // Not yet the failure-domain type: descend (an OSD here means a malformed tree).
                                if (item >= 0 || !map.TryGetBucket(item, out var next))
                                {
                                    skipRep = true;
                                    break;
                                }
                                current = next;
                                retryBucket = true;
                                continue;
                            }

                            for (int i = 0; i < outPos; i++)
                            {
                                if (output[i] == item)
                                {
                                    collide = true;
                                    break;
                                }
                            }

                            reject = false;
                            if (!collide && recurseToLeaf)
                            {
                                if (item < 0)
                                {
                                    // One try for a leaf under this failure domain (descend_once); if it fails,
                                    // the whole descent is retried with a new r.
                                    map.TryGetBucket(item, out var domain);
                                    if (ChooseFirstN(domain, 1, CrushBucketType.Osd, leaves!, null, outPos, count,
                                            recurseTries, 0, recurseToLeaf: false, parentR: r) <= outPos)
                                        reject = true;
                                }
                                else
                                {
                                    leaves![outPos] = item;
                                }
                            }

                            if (!reject && !collide && itemType == CrushBucketType.Osd)
                                reject = IsOut(reweights, item, x);
                        }

                        if (reject || collide)
                        {
                            fTotal++;
                            if (fTotal < tries)
                                retryDescent = true;
                            else
                                skipRep = true;
                        }
                    } while (retryBucket);
                } while (retryDescent);

                if (skipRep)
                    continue;
                output[outPos] = item;
                outPos++;
                count--;
            }
            return outPos;
        }
    }
}
