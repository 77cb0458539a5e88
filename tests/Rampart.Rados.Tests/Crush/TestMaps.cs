using Rampart.Rados.Crush;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Tests.Crush;

internal static class TestMaps
{
    /// <summary>Root "default", rule 0 (host failure domain), rule 1 (osd failure domain); host i is
    /// "host{i}" and OSDs are numbered 0, 1, … in the order given.</summary>
    public static CrushMap Hosts(params double[][] osdWeightsPerHost)
    {
        var map = CrushMap.Empty
            .AddBucket("default", CrushBucketType.Root)
            .AddRule(CrushRule.DefaultReplicated)
            .AddRule(new CrushRule("replicated_osd", 1, "default", CrushBucketType.Osd));
        int osd = 0;
        for (int h = 0; h < osdWeightsPerHost.Length; h++)
        {
            map = map.AddHost($"host{h}");
            foreach (double weight in osdWeightsPerHost[h])
                map = map.AddOsd(osd++, weight, $"host{h}");
        }
        return map;
    }

    /// <summary>4 hosts × 3 OSDs, unequal OSD weights, every host 6.0 in total.</summary>
    public static CrushMap Unequal() => Hosts([1, 2, 3], [2, 2, 2], [1.5, 1.5, 3], [1, 2.5, 2.5]);

    public static int[][] MapPgs(CrushMap map, int pgCount, int size, IReadOnlyDictionary<int, double>? reweights = null, int ruleId = 0)
    {
        var result = new int[pgCount][];
        for (uint seed = 0; seed < pgCount; seed++)
            result[seed] = ObjectLocator.MapPg(map, ruleId, new PgId(1, seed), size, reweights);
        return result;
    }

    public static Dictionary<int, int> CountPerOsd(int[][] mappings)
    {
        var counts = new Dictionary<int, int>();
        foreach (var set in mappings)
        {
            foreach (int osd in set)
                counts[osd] = counts.GetValueOrDefault(osd) + 1;
        }
        return counts;
    }

    /// <summary>Replicas that land on a new OSD: |after \ before| summed over PGs.</summary>
    public static int MovedReplicas(int[][] before, int[][] after)
    {
        int moved = 0;
        for (int i = 0; i < before.Length; i++)
            moved += after[i].Except(before[i]).Count();
        return moved;
    }
}
