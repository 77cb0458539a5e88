using Rampart.Rados.Crush;
using Rampart.Rados.Placement;
using Xunit.Abstractions;

namespace Rampart.Rados.Tests.Crush;

public class CrushMapperTests(ITestOutputHelper output)
{
    private const int PgCount = 4096;
    private const int Size = 3;

    [Fact]
    public void Map_SameInputTwice_SameOutput()
    {
        var first = TestMaps.MapPgs(TestMaps.Unequal(), 1024, Size);
        var second = TestMaps.MapPgs(TestMaps.Unequal(), 1024, Size);
        Assert.Equal(first, second);
    }

    // Computed once by this implementation; a change here moves data in every existing cluster.
    [Theory]
    [InlineData(0u, new[] { 11, 0, 8 })]
    [InlineData(1u, new[] { 10, 8, 4 })]
    [InlineData(2u, new[] { 11, 3, 6 })]
    [InlineData(3u, new[] { 4, 8, 10 })]
    [InlineData(6u, new[] { 6, 4, 2 })]
    [InlineData(7u, new[] { 11, 3, 7 })]
    public void Map_GoldenInputs_PinnedResults(uint seed, int[] expected) =>
        Assert.Equal(expected, ObjectLocator.MapPg(TestMaps.Unequal(), 0, new PgId(1, seed), Size));

    [Fact]
    public void Map_HostFailureDomain_NoTwoReplicasOnOneHost()
    {
        var map = TestMaps.Unequal();
        foreach (var set in TestMaps.MapPgs(map, PgCount, Size))
        {
            Assert.Equal(Size, set.Length);
            Assert.Equal(Size, set.Select(osd => map.ParentOf(osd)).Distinct().Count());
        }
    }

    [Fact]
    public void Map_OsdFailureDomain_DistinctOsdsAndHostsMayRepeat()
    {
        var map = TestMaps.Hosts([1, 1, 1], [1, 1, 1]);
        var sets = TestMaps.MapPgs(map, 512, Size, ruleId: 1);
        Assert.All(sets, set => Assert.Equal(Size, set.Distinct().Count()));
    }

    [Fact]
    public void Map_FewerHostsThanSize_ReturnsOnePerHost()
    {
        var map = TestMaps.Hosts([1, 1, 1], [1, 1, 1]);
        foreach (var set in TestMaps.MapPgs(map, 512, Size))
        {
            Assert.Equal(2, set.Length);
            Assert.NotEqual(map.ParentOf(set[0]), map.ParentOf(set[1]));
        }
    }

    [Fact]
    public void Map_UnequalWeights_PgsPerOsdWithinTenPercentOfWeightShare()
    {
        var map = TestMaps.Unequal();
        var counts = TestMaps.CountPerOsd(TestMaps.MapPgs(map, PgCount, Size));
        double total = map.WeightOf(map.FindBucket("default")!.Id);
        double worst = 0;
        foreach (int osd in map.Devices)
        {
            double expected = PgCount * Size * map.WeightOf(osd) / total;
            double deviation = (counts.GetValueOrDefault(osd) - expected) / expected;
            worst = Math.Max(worst, Math.Abs(deviation));
            output.WriteLine($"osd.{osd} weight {map.WeightOf(osd)}: {counts.GetValueOrDefault(osd)} PGs, expected {expected:F0} ({deviation:+0.0%;-0.0%})");
        }
        output.WriteLine($"worst deviation {worst:P1}");
        Assert.True(worst <= 0.10, $"worst deviation {worst:P1}");
    }

    [Fact]
    public void Map_AddOsdInNewHost_MovesAtMostAQuarterMoreThanIdeal()
    {
        var before = TestMaps.Unequal();
        var after = before.AddHost("host4").AddOsd(12, 6.0, "host4");
        AssertMovement(before, after, newWeight: 6.0, ruleId: 0, bound: 1.25);
    }

    [Fact]
    public void Map_AddOsdFlat_MovesAtMostAQuarterMoreThanIdeal()
    {
        var before = TestMaps.Hosts([1, 2, 3, 2, 2, 2, 1.5, 1.5, 3, 1, 2.5, 2.5]);
        var after = before.AddOsd(12, 2.0, "host0");
        AssertMovement(before, after, newWeight: 2.0, ruleId: 1, bound: 1.25);
    }

    // Two-level straw2 costs extra here (Ceph too): the host's larger weight pulls PGs from other
    // hosts onto its old OSDs while its old OSDs hand PGs to the new one.
    [Fact]
    public void Map_AddOsdToExistingHost_MovesAtMostTwiceIdeal()
    {
        var before = TestMaps.Unequal();
        var after = before.AddOsd(12, 2.0, "host1");
        AssertMovement(before, after, newWeight: 2.0, ruleId: 0, bound: 2.0);
    }

    private void AssertMovement(CrushMap before, CrushMap after, double newWeight, int ruleId, double bound)
    {
        var moved = TestMaps.MovedReplicas(
            TestMaps.MapPgs(before, PgCount, Size, ruleId: ruleId), TestMaps.MapPgs(after, PgCount, Size, ruleId: ruleId));
        double ideal = PgCount * Size * newWeight / after.WeightOf(after.FindBucket("default")!.Id);
        output.WriteLine($"moved {moved} replicas, ideal {ideal:F0}, ratio {moved / ideal:F3}");
        Assert.True(moved <= bound * ideal, $"moved {moved}, ideal {ideal:F0}, bound {bound}");
    }

    [Fact]
    public void Map_OsdOut_MovesOnlyPgsThatHadIt()
    {
        var map = TestMaps.Unequal();
        var before = TestMaps.MapPgs(map, PgCount, Size);
        var after = TestMaps.MapPgs(map, PgCount, Size, new Dictionary<int, double> { [4] = 0.0 });
        int changed = 0;
        for (int i = 0; i < PgCount; i++)
        {
            Assert.DoesNotContain(4, after[i]);
            Assert.Equal(Size, after[i].Length);
            if (!before[i].Contains(4))
                Assert.Equal(before[i], after[i]);
            else
                changed++;
        }
        output.WriteLine($"osd.4 out: {changed} PGs remapped, {TestMaps.MovedReplicas(before, after)} replicas moved");
    }

    [Fact]
    public void Map_HalfReweight_KeepsAboutHalfItsPgs()
    {
        var map = TestMaps.Unequal();
        var before = TestMaps.CountPerOsd(TestMaps.MapPgs(map, PgCount, Size))[4];
        var after = TestMaps.CountPerOsd(TestMaps.MapPgs(map, PgCount, Size, new Dictionary<int, double> { [4] = 0.5 }))[4];
        output.WriteLine($"osd.4 reweight 0.5: {before} -> {after} PGs");
        Assert.InRange(after / (double)before, 0.40, 0.60);
    }

    [Fact]
    public void Map_RemoveHost_OnlyPgsOnItMove()
    {
        var map = TestMaps.Unequal();
        var removed = map.RemoveItem(3).RemoveItem(4).RemoveItem(5).RemoveItem("host1");
        Assert.Null(removed.FindBucket("host1"));
        var before = TestMaps.MapPgs(map, PgCount, Size);
        var after = TestMaps.MapPgs(removed, PgCount, Size);
        int[] gone = [3, 4, 5];
        for (int i = 0; i < PgCount; i++)
        {
            Assert.Equal(Size, after[i].Length);
            Assert.Empty(after[i].Intersect(gone));
            if (!before[i].Intersect(gone).Any())
                Assert.Equal(before[i], after[i]);
        }
        output.WriteLine($"host1 removed: {TestMaps.MovedReplicas(before, after)} replicas moved");
    }

    [Fact]
    public void Map_ZeroWeightOsd_NeverChosen()
    {
        var map = TestMaps.Hosts([1, 0, 1], [1, 1, 1], [1, 1, 1]);
        Assert.All(TestMaps.MapPgs(map, 1024, Size), set => Assert.DoesNotContain(1, set));
    }

    [Fact]
    public void Map_AllOsdsOfAHostOut_OtherHostsServe()
    {
        var map = TestMaps.Hosts([1, 1], [1, 1], [1, 1], [1, 1]);
        var reweights = new Dictionary<int, double> { [0] = 0, [1] = 0 };
        foreach (var set in TestMaps.MapPgs(map, 1024, Size, reweights))
        {
            Assert.Equal(Size, set.Length);
            Assert.DoesNotContain(0, set);
            Assert.DoesNotContain(1, set);
        }
    }

    [Fact]
    public void Map_UnknownRule_Throws() =>
        Assert.Throws<ArgumentException>(() => CrushMapper.Map(TestMaps.Unequal(), 7, 0, Size));

    [Fact]
    public void Map_EmptyRoot_ReturnsNothing()
    {
        var map = CrushMap.Empty.AddBucket("default", CrushBucketType.Root).AddRule(CrushRule.DefaultReplicated);
        Assert.Empty(CrushMapper.Map(map, 0, 42, Size));
    }

    // Pins all 4096 mappings at once (XxHash32 of the OSD ids), host and osd failure domains.
    [Theory]
    [InlineData(0, 0x30686364u)]
    [InlineData(1, 0x75592c40u)]
    public void Map_AllPgs_PinnedDigest(int ruleId, uint expected)
    {
        var hash = new System.IO.Hashing.XxHash32();
        foreach (var set in TestMaps.MapPgs(TestMaps.Unequal(), PgCount, Size, ruleId: ruleId))
        {
            foreach (int osd in set)
                hash.Append(BitConverter.GetBytes(osd));
            hash.Append(BitConverter.GetBytes(-1));
        }
        output.WriteLine($"digest 0x{hash.GetCurrentHashAsUInt32():x8}");
        Assert.Equal(expected, hash.GetCurrentHashAsUInt32());
    }
}
