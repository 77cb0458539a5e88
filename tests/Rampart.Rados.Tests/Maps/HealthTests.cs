using Rampart.Rados.Maps;
using Rampart.Rados.Mon;
using Rampart.Rados.Tests.Mon;

namespace Rampart.Rados.Tests.Maps;

public class HealthTests
{
    private static MonitorState Healthy() => Cluster.Ok(Cluster.WithOsds(3, 2), new PoolCreate("rbd", PgNum: 64));

    [Fact]
    public void Healthy_cluster_is_ok()
    {
        var report = ClusterHealth.Health(Healthy().Map);
        Assert.Equal(HealthStatus.Ok, report.Status);
        Assert.Empty(report.Checks);
        Assert.Equal("HEALTH_OK", report.ToString());
    }

    [Fact]
    public void Down_osd_warns_and_its_pgs_are_undersized()
    {
        var map = Cluster.Ok(Healthy(), new OsdMarkDown(0, "test", Cluster.T0)).Map;
        int undersized = map.PgsOf("rbd").Count(pg => map.UpSet(pg).Length < 3);
        var report = ClusterHealth.Health(map);
        Assert.Equal(HealthStatus.Warn, report.Status);
        Assert.Equal(
            ["1 osds down", $"Degraded data redundancy: {undersized} pgs undersized"],
            report.Checks.Select(c => c.Summary));
        Assert.Equal(["OSD_DOWN", "PG_DEGRADED"], report.Checks.Select(c => c.Code));
    }

    [Fact]
    public void Whole_host_down_and_pgs_below_min_size()
    {
        var state = Healthy();
        foreach (int osd in new[] { 0, 1, 2, 3 })
            state = Cluster.Ok(state, new OsdMarkDown(osd, "test", Cluster.T0));
        var report = ClusterHealth.Health(state.Map);
        var summaries = report.Checks.Select(c => c.Summary).ToList();
        Assert.Contains("4 osds down", summaries);
        Assert.Contains("2 hosts (4 osds) down", summaries);
        Assert.Contains(summaries, s => s.StartsWith("Reduced data availability: 64 pgs inactive", StringComparison.Ordinal));
        Assert.Equal(HealthStatus.Warn, report.Status);
    }

    [Fact]
    public void Down_and_out_osd_is_no_longer_reported_down()
    {
        var state = Cluster.Ok(Cluster.Ok(Healthy(), new OsdMarkDown(0, "test", Cluster.T0)), new OsdOut(0));
        Assert.DoesNotContain(ClusterHealth.Health(state.Map).Checks, c => c.Code == "OSD_DOWN");
    }

    [Fact]
    public void Pool_without_replicas_and_too_few_osds()
    {
        var state = Cluster.Ok(Cluster.WithOsds(2, 1), new PoolCreate("scratch", PgNum: 8, Size: 1, MinSize: 1));
        var report = ClusterHealth.Health(state.Map);
        Assert.Equal(
            ["OSD count 2 < osd_pool_default_size 3", "1 pool(s) have no replicas configured"],
            report.Checks.Select(c => c.Summary));
    }

    [Fact]
    public void Pg_stats_passed_in_replace_the_map_estimate_and_damage_is_an_error()
    {
        var report = ClusterHealth.Health(Healthy().Map, new PgStateCounts(Inactive: 1, Down: 2, Degraded: 3, Undersized: 1, Inconsistent: 1));
        Assert.Equal(HealthStatus.Err, report.Status);
        Assert.Equal(
            [
                "Reduced data availability: 1 pg inactive, 2 pgs down",
                "Degraded data redundancy: 3 pgs degraded, 1 pg undersized",
                "Possible data damage: 1 pg inconsistent",
            ],
            report.Checks.Select(c => c.Summary));
        Assert.StartsWith("HEALTH_ERR: Reduced data availability", report.ToString());
    }
}
