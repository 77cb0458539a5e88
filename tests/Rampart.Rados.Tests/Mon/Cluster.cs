using Rampart.Rados.Maps;
using Rampart.Rados.Mon;

namespace Rampart.Rados.Tests.Mon;

internal static class Cluster
{
    public static readonly Guid Fsid = Guid.Parse("6f1c8a2e-0b7d-4c1e-9a55-3d2f4e6a7b80");
    public static readonly DateTimeOffset T0 = new(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);

    public static MonitorState Fresh() =>
        MonitorState.Create(ClusterMap.Create(Fsid, [new MonitorInfo("a", "10.0.0.1:6789"), new MonitorInfo("b", "10.0.0.2:6789")]));

    /// <summary><paramref name="hosts"/> hosts with <paramref name="perHost"/> OSDs each, numbered host-major, all up and in.</summary>
    public static MonitorState WithOsds(int hosts, int perHost)
    {
        var state = Fresh();
        int id = 0;
        for (int h = 0; h < hosts; h++)
        {
            for (int i = 0; i < perHost; i++, id++)
                state = Ok(state, new OsdBoot(id, $"10.0.1.{h}:{6800 + i}", $"host{h}", 1.0));
        }
        return state;
    }

    /// <summary>Applies a command that must succeed; returns the next state.</summary>
    public static MonitorState Ok(MonitorState state, MonCommand command)
    {
        var (next, result) = state.Apply(command);
        Assert.True(result.Success, $"{command}: {result.Message}");
        return next;
    }

    public static MonResult Refused(MonitorState state, MonCommand command)
    {
        var (next, result) = state.Apply(command);
        Assert.False(result.Success, $"{command} succeeded: {result.Message}");
        Assert.Same(state, next);
        return result;
    }

    public static string Key(byte fill = 7) => Convert.ToBase64String(Enumerable.Repeat(fill, 32).ToArray());

    public static Dictionary<string, string> Caps(params (string Service, string Text)[] caps) =>
        caps.ToDictionary(c => c.Service, c => c.Text);

    /// <summary>A command list touching every command kind (for the codec, replay and snapshot tests).</summary>
    public static List<MonCommand> Script() =>
    [
        new OsdBoot(0, "10.0.1.0:6800", "host0", 1.0),
        new OsdBoot(1, "10.0.1.0:6801", "host0", 2.0),
        new OsdBoot(2, "10.0.1.1:6800", "host1", 1.0),
        new OsdBoot(3, "10.0.1.1:6801", "host1", 1.5),
        new OsdBoot(4, "10.0.1.2:6800", "host2", 1.0),
        new OsdBoot(5, "10.0.1.2:6801", "host2", 0.5),
        new CrushAddBucket("rack1", "rack"),
        new CrushMove("rack1", "root=default"),
        new CrushMove("host2", "rack1"),
        new PoolCreate("rbd", PgNum: 1024, Application: "rbd"),
        new PoolCreate("volumes"),
        new PoolCreate("scratch", PgNum: 8, Size: 1, MinSize: 1),
        new PoolSet("volumes", "pg_num", "1"), // refused (PGs do not merge): refusals are part of the log too
        new PoolSet("volumes", "min_size", "1"),
        new SetOption("mon_allow_pool_delete", "true"),
        new SetOption("mon_osd_down_out_interval", "300"),
        new SetOption("rampart_custom", "x y"),
        new PoolDelete("scratch", "scratch", true),
        new SnapCreate("rbd"),
        new SnapCreate("rbd"),
        new SnapCreate("rbd"),
        new SnapRemove("rbd", 2),
        new SnapPublish("rbd"),
        new PgActivate(0, [new PgActivation(1, 0, 3, [0, 4])]), // stale (the up set differs): recorded as refused
        new PgActivations([new PgRef(1, 0)]),
        new OsdLost(5, true), // refused: osd.5 is up
        new OsdBeacon(1),
        new OsdMarkDown(3, "heartbeat", T0),
        new OsdOut(5),
        new OsdReweight(1, 0.75),
        new AutoOut(T0.AddSeconds(301)),
        new AuthAdd("client.admin", Key(1), Caps(("mon", "allow *"), ("osd", "allow *"))),
        new AuthGetOrCreate("client.glance", Key(2), Caps(("mon", "profile rbd"), ("osd", "profile rbd pool=rbd"))),
        new AuthCaps("client.glance", Caps(("mon", "profile rbd"), ("osd", "allow rwx pool=rbd"))),
        new AuthAdd("client.tmp", Key(3), Caps()),
        new AuthRemove("client.tmp"),
        new PoolCreate("rbd"),              // no-op: exists
        new PoolSet("nope", "size", "2"),   // refused
        new OsdMarkUp(3),
    ];
}
