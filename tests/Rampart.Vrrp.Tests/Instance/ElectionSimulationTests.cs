using System.Net;
using Rampart.Vrrp.Instance;
using Rampart.Vrrp.Protocol;

namespace Rampart.Vrrp.Tests.Instance;

/// <summary>Several routers on a simulated LAN with a fake clock: every advert reaches every live router at once.</summary>
public class ElectionSimulationTests
{
    private sealed class Lan
    {
        public readonly List<VrrpStateMachine> Routers = [];
        public readonly HashSet<VrrpStateMachine> Dead = [];
        /// <summary>A partition: every router runs, no advert is delivered.</summary>
        public bool Cut;
        public TimeSpan Now = TimeSpan.FromSeconds(1);

        public VrrpStateMachine Add(byte priority, string address, int version = 3, int intervalCs = 10, bool preempt = true)
        {
            var router = new VrrpStateMachine(new VrrpParameters(version, 1, priority, intervalCs, preempt, TimeSpan.Zero, false, IPAddress.Parse(address)));
            Routers.Add(router);
            Apply(router, router.Start(Now, false));
            return router;
        }

        public void Apply(VrrpStateMachine from, IReadOnlyList<VrrpEffect> effects)
        {
            foreach (var send in effects.OfType<SendAdvert>().Where(_ => !Cut))
            {
                var packet = new VrrpPacket(from.Parameters.Version, 1, send.Priority, from.Parameters.AdvertIntervalCentiseconds, []);
                foreach (var to in Routers.Where(r => r != from && !Dead.Contains(r)))
                    Apply(to, to.OnAdvert(Now, packet, from.Parameters.LocalAddress));
            }
        }

        public void RunFor(TimeSpan duration)
        {
            var end = Now + duration;
            while (Now < end)
            {
                Now += TimeSpan.FromMilliseconds(1);
                foreach (var router in Routers.Where(r => !Dead.Contains(r)).ToList())
                    Apply(router, router.OnTimer(Now));
            }
        }

        public VrrpStateMachine[] Masters => Routers.Where(r => !Dead.Contains(r) && r.State == VrrpState.Master).ToArray();

        public TimeSpan TimeUntilOneMaster(TimeSpan limit)
        {
            var start = Now;
            while (Masters.Length != 1 && Now - start < limit) RunFor(TimeSpan.FromMilliseconds(1));
            return Now - start;
        }
    }

    [Fact]
    public void Election_ThreeRouters_HighestPriorityWinsAlone()
    {
        var lan = new Lan();
        lan.Add(100, "10.0.0.1");
        var best = lan.Add(200, "10.0.0.2");
        lan.Add(150, "10.0.0.3");

        lan.RunFor(TimeSpan.FromSeconds(2));

        Assert.Equal([best], lan.Masters);
    }

    [Fact]
    public void MasterDies_NextBestTakesOverWithinMasterDownInterval()
    {
        var lan = new Lan();
        var master = lan.Add(200, "10.0.0.1");
        var second = lan.Add(150, "10.0.0.2");
        lan.Add(100, "10.0.0.3");
        lan.RunFor(TimeSpan.FromSeconds(2));

        lan.Dead.Add(master);
        var gap = lan.TimeUntilOneMaster(TimeSpan.FromSeconds(5));

        Assert.Equal([second], lan.Masters);
        Assert.True(gap <= second.MasterDownInterval + TimeSpan.FromMilliseconds(2), $"gap {gap}");
    }

    [Fact]
    public void MasterStops_BackupTakesOverAfterSkewOnly()
    {
        var lan = new Lan();
        var master = lan.Add(200, "10.0.0.1", version: 2, intervalCs: 100);
        var backup = lan.Add(100, "10.0.0.2", version: 2, intervalCs: 100);
        lan.RunFor(TimeSpan.FromSeconds(5));

        lan.Apply(master, master.Stop(lan.Now));
        lan.Dead.Add(master);
        var gap = lan.TimeUntilOneMaster(TimeSpan.FromSeconds(5));

        Assert.Equal([backup], lan.Masters);
        Assert.True(gap <= backup.SkewTime + TimeSpan.FromMilliseconds(2), $"gap {gap}");
    }

    [Fact]
    public void SplitBrainHeals_LowerPriorityMasterStepsDown()
    {
        var lan = new Lan();
        var a = lan.Add(200, "10.0.0.1");
        var b = lan.Add(100, "10.0.0.2");
        lan.RunFor(TimeSpan.FromSeconds(1));
        lan.Cut = true;
        lan.RunFor(TimeSpan.FromSeconds(1));
        Assert.Equal(2, lan.Masters.Length);

        lan.Cut = false;
        lan.RunFor(TimeSpan.FromSeconds(1));

        Assert.Equal([a], lan.Masters);
    }
}
