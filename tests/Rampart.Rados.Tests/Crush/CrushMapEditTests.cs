using Rampart.Rados.Crush;

namespace Rampart.Rados.Tests.Crush;

public class CrushMapEditTests
{
    [Fact]
    public void AddBucket_Ids_AreLowestUnusedNegative()
    {
        var map = TestMaps.Hosts([1], [1]);
        Assert.Equal(-1, map.FindBucket("default")!.Id);
        Assert.Equal(-2, map.FindBucket("host0")!.Id);
        Assert.Equal(-3, map.FindBucket("host1")!.Id);
        var reused = map.RemoveItem(1).RemoveItem("host1").AddHost("host9");
        Assert.Equal(-3, reused.FindBucket("host9")!.Id);
    }

    [Fact]
    public void AddOsd_Weight_PropagatesToAncestors()
    {
        var map = TestMaps.Hosts([1, 2], [3]).AddOsd(3, 0.5, "host1");
        Assert.Equal(3.5, map.WeightOf(map.FindBucket("host1")!.Id));
        Assert.Equal(6.5, map.WeightOf(map.FindBucket("default")!.Id));
        Assert.Equal(0.5, map.WeightOf(3));
        Assert.Equal([0, 1, 2, 3], map.Devices);
    }

    [Fact]
    public void Reweight_ChangesOsdAndAncestors_KeepsOthers()
    {
        var map = TestMaps.Hosts([1, 2], [3]).Reweight(0, 4);
        Assert.Equal(4, map.WeightOf(0));
        Assert.Equal(6, map.WeightOf(map.FindBucket("host0")!.Id));
        Assert.Equal(9, map.WeightOf(map.FindBucket("default")!.Id));
        Assert.Equal(3, map.WeightOf(map.FindBucket("host1")!.Id));
    }

    [Fact]
    public void MoveBucket_UnderRack_RecomputesBothPaths()
    {
        var map = TestMaps.Hosts([1, 2], [3])
            .AddBucket("rack0", CrushBucketType.Rack, "default")
            .MoveBucket("host0", "rack0");
        var rack = map.FindBucket("rack0")!;
        Assert.Equal(rack.Id, map.ParentOf(map.FindBucket("host0")!.Id));
        Assert.Equal(3, rack.Weight);
        Assert.Equal(6, map.WeightOf(map.FindBucket("default")!.Id));
        Assert.Equal(2, map.FindBucket("default")!.Items.Length);
    }

    [Fact]
    public void MoveOsd_KeepsWeight()
    {
        var map = TestMaps.Hosts([1, 2], [3]).MoveOsd(1, "host1");
        Assert.Equal(map.FindBucket("host1")!.Id, map.ParentOf(1));
        Assert.Equal(5, map.WeightOf(map.FindBucket("host1")!.Id));
        Assert.Equal(1, map.WeightOf(map.FindBucket("host0")!.Id));
    }

    [Fact]
    public void Edits_ReturnNewMaps_LeaveOriginalUntouched()
    {
        var map = TestMaps.Hosts([1, 2]);
        _ = map.Reweight(0, 9).AddOsd(5, 1, "host0").RemoveItem(1);
        Assert.Equal(3, map.WeightOf(map.FindBucket("default")!.Id));
        Assert.Equal([0, 1], map.Devices);
    }

    [Fact]
    public void Rejects_MoveUnderOwnDescendant()
    {
        var map = TestMaps.Hosts([1]).AddBucket("rack0", CrushBucketType.Rack, "default");
        var ex = Assert.Throws<ArgumentException>(() => map.MoveBucket("default", "rack0"));
        Assert.StartsWith("bucket 'default' cannot move under 'rack0', which is inside it", ex.Message);
    }

    [Fact]
    public void Rejects_RemoveNonEmptyBucket()
    {
        var ex = Assert.Throws<ArgumentException>(() => TestMaps.Hosts([1, 1]).RemoveItem("host0"));
        Assert.StartsWith("bucket 'host0' is not empty (2 items)", ex.Message);
    }

    [Fact]
    public void Rejects_RemoveRuleRoot()
    {
        var map = CrushMap.Empty.AddBucket("default", CrushBucketType.Root).AddRule(CrushRule.DefaultReplicated);
        var ex = Assert.Throws<ArgumentException>(() => map.RemoveItem("default"));
        Assert.StartsWith("bucket 'default' is the root of rule 'replicated_rule'", ex.Message);
    }

    [Fact]
    public void Rejects_DuplicateOsdAndBucket()
    {
        var map = TestMaps.Hosts([1]);
        Assert.StartsWith("osd.0 already exists under 'host0'", Assert.Throws<ArgumentException>(() => map.AddOsd(0, 1, "host0")).Message);
        Assert.StartsWith("bucket 'host0' already exists", Assert.Throws<ArgumentException>(() => map.AddHost("host0")).Message);
    }

    [Fact]
    public void Rejects_NegativeWeightAndUnknownHost()
    {
        var map = TestMaps.Hosts([1]);
        Assert.StartsWith("osd.1: weight -1 must be a finite number >= 0", Assert.Throws<ArgumentException>(() => map.AddOsd(1, -1, "host0")).Message);
        Assert.StartsWith("bucket 'nowhere' does not exist", Assert.Throws<ArgumentException>(() => map.AddOsd(1, 1, "nowhere")).Message);
        Assert.StartsWith("osd.7 is not in the crush map", Assert.Throws<ArgumentException>(() => map.Reweight(7, 1)).Message);
    }
}
