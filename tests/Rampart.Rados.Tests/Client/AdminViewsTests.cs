using System.Text.Json;
using Rampart.Rados.Client;
using Rampart.Rados.Mon;
using Rampart.Rados.Tests.Mon;

namespace Rampart.Rados.Tests.Client;

public class AdminViewsTests
{
    [Fact]
    public void Cap_args_are_service_text_pairs()
    {
        var caps = AdminViews.ParseCapArgs(["mon", "allow r", "osd", "allow rwx pool=volumes"]);
        Assert.Equal("allow r", caps["mon"]);
        Assert.Equal("allow rwx pool=volumes", caps["osd"]);
        Assert.Empty(AdminViews.ParseCapArgs([]));
        Assert.Contains("pairs", Assert.Throws<MonClientException>(() => AdminViews.ParseCapArgs(["mon"])).Message, StringComparison.Ordinal);
        Assert.Throws<MonClientException>(() => AdminViews.ParseCapArgs(["mon", "allow r", "mon", "allow *"]));
    }

    [Fact]
    public void Pool_get_reads_each_settable_key()
    {
        var state = Cluster.Ok(Cluster.Fresh(), new PoolCreate("rbd", PgNum: 32, Size: 2, MinSize: 1));
        var pool = state.Map.FindPool("rbd")!;
        Assert.Equal("pg_num: 32", AdminViews.PoolGet(pool, state.Map, "pg_num"));
        Assert.Equal("size: 2", AdminViews.PoolGet(pool, state.Map, "size"));
        Assert.Equal("crush_rule: replicated_rule", AdminViews.PoolGet(pool, state.Map, "crush_rule"));
        Assert.Equal("nodelete: false", AdminViews.PoolGet(pool, state.Map, "nodelete"));
        Assert.Null(AdminViews.PoolGet(pool, state.Map, "colour"));
        Assert.All(AdminViews.PoolKeys, key => Assert.NotNull(AdminViews.PoolGet(pool, state.Map, key)));
    }

    [Fact]
    public void Osd_tree_nests_hosts_under_the_root_with_osd_state()
    {
        var state = Cluster.WithOsds(2, 1);
        state = Cluster.Ok(state, new OsdMarkDown(1, "test", Cluster.T0));
        var lines = AdminViews.OsdTree(state.Map).Split('\n');
        Assert.Contains(lines, l => l.Contains("root default", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("    host host0", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("        osd.0", StringComparison.Ordinal) && l.Contains(" up ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("        osd.1", StringComparison.Ordinal) && l.Contains(" down ", StringComparison.Ordinal));
    }

    [Fact]
    public void Status_json_carries_health_mons_leader_osds_and_pools()
    {
        var state = Cluster.Ok(Cluster.WithOsds(3, 1), new PoolCreate("rbd"));
        using var json = JsonDocument.Parse(AdminViews.StatusJson(state.Map, "b"));
        var root = json.RootElement;
        Assert.Equal("b", root.GetProperty("leader").GetString());
        Assert.Equal(2, root.GetProperty("mons").GetArrayLength());
        Assert.Equal(3, root.GetProperty("osdmap").GetProperty("num_up_osds").GetInt32());
        Assert.Equal("rbd", root.GetProperty("pools")[0].GetProperty("name").GetString());
        Assert.Equal(state.Map.Epoch, root.GetProperty("epoch").GetInt64());
        Assert.StartsWith("HEALTH_", root.GetProperty("health").GetProperty("status").GetString(), StringComparison.Ordinal);

        string text = AdminViews.Status(state.Map, null);
        Assert.Contains("leader (election in progress)", text, StringComparison.Ordinal);
        Assert.Contains("3 osds: 3 up, 3 in", text, StringComparison.Ordinal);
    }
}
