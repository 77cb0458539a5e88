using Rampart.Rados.Maps;
using Rampart.Rados.Mon;
using Rampart.Rados.Placement;
using Rampart.Rados.Tests.Mon;

namespace Rampart.Rados.Tests.Maps;

public class ClusterMapTests
{
    private static MonitorState Pooled(out PoolInfo pool)
    {
        var state = Cluster.Ok(Cluster.WithOsds(4, 3), new PoolCreate("rbd", PgNum: 256));
        pool = state.Map.FindPool("rbd")!;
        return state;
    }

    [Fact]
    public void Fresh_map_is_epoch_1_with_default_root_and_rule()
    {
        var map = Cluster.Fresh().Map;
        Assert.Equal(1, map.Epoch);
        Assert.Equal(Cluster.Fsid, map.Fsid);
        Assert.Equal(["a", "b"], map.Monitors.Keys);
        Assert.NotNull(map.Crush.FindBucket("default"));
        Assert.Equal("replicated_rule", map.Crush.FindRule(0)!.Name);
        Assert.False(map.Options.MonAllowPoolDelete);
        Assert.Equal(TimeSpan.FromSeconds(600), map.Options.MonOsdDownOutInterval);
    }

    [Fact]
    public void Pgs_locate_and_sets_follow_the_pool()
    {
        var map = Pooled(out var pool).Map;
        Assert.Equal(256, map.PgsOf(pool).Count());
        Assert.Equal(new PgId(pool.Id, 255), map.PgsOf("rbd").Last());
        Assert.Equal(ObjectLocator.Locate(pool.Id, "obj", 256), map.Locate("rbd", "obj"));
        foreach (var pg in map.PgsOf(pool))
        {
            var up = map.UpSet(pg);
            Assert.Equal(3, up.Length);
            Assert.Equal(3, up.Select(o => map.FindOsd(o)!.Host).Distinct().Count());
            Assert.Equal(up, map.ActingSet(pg));
            Assert.Equal(up[0], map.Primary(pg));
        }
        Assert.Throws<ArgumentException>(() => map.Locate("nope", "obj"));
    }

    [Fact]
    public void Down_osd_leaves_the_up_set_but_keeps_its_crush_position()
    {
        var before = Pooled(out var pool);
        var after = Cluster.Ok(before, new OsdMarkDown(4, "test", Cluster.T0)).Map;
        int held = 0;
        foreach (var pg in before.Map.PgsOf(pool))
        {
            var raw = before.Map.RawSet(pg);
            Assert.Equal(raw, after.RawSet(pg)); // no remap
            Assert.Equal(raw.Where(o => o != 4), after.UpSet(pg)); // order kept
            if (raw.Contains(4))
            {
                held++;
                Assert.Equal(2, after.UpSet(pg).Length);
            }
        }
        Assert.True(held > 0);
    }

    [Fact]
    public void Out_osd_remaps_only_its_pgs()
    {
        var before = Pooled(out var pool);
        var after = Cluster.Ok(before, new OsdOut(7)).Map;
        Assert.Equal(0.0, after.CrushReweights[7]);
        int moved = 0;
        foreach (var pg in before.Map.PgsOf(pool))
        {
            var old = before.Map.UpSet(pg);
            var now = after.UpSet(pg);
            Assert.DoesNotContain(7, now);
            Assert.Equal(3, now.Length);
            if (!old.Contains(7))
                Assert.Equal(old, now);
            else
            {
                moved++;
                Assert.Equal(2, now.Intersect(old).Count());
            }
        }
        Assert.True(moved > 0);
    }

    [Fact]
    public void Crush_reweights_list_only_osds_not_fully_in()
    {
        var state = Cluster.Ok(Cluster.Ok(Cluster.WithOsds(3, 1), new OsdReweight(1, 0.5)), new OsdOut(2));
        Assert.Equal(new Dictionary<int, double> { [1] = 0.5, [2] = 0.0 }, state.Map.CrushReweights);
    }
}
