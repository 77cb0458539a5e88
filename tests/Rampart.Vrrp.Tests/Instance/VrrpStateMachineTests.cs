using System.Net;
using Rampart.Vrrp.Instance;
using Rampart.Vrrp.Protocol;

namespace Rampart.Vrrp.Tests.Instance;

public class VrrpStateMachineTests
{
    private static readonly IPAddress Local = IPAddress.Parse("10.0.0.2");
    private static readonly IPAddress Lower = IPAddress.Parse("10.0.0.1");
    private static readonly IPAddress Higher = IPAddress.Parse("10.0.0.3");
    private static readonly TimeSpan T0 = TimeSpan.FromSeconds(100);

    private static VrrpStateMachine Create(int version = 2, byte priority = 100, int intervalCs = 100, bool preempt = true,
        TimeSpan preemptDelay = default, bool startAsMaster = false) =>
        new(new VrrpParameters(version, 51, priority, intervalCs, preempt, preemptDelay, startAsMaster, Local));

    private static VrrpPacket Advert(byte priority, int version = 2, int intervalCs = 100) =>
        new(version, 51, priority, intervalCs, [IPAddress.Parse("10.0.0.100")]);

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public void Start_Backup_WaitsMasterDownIntervalThenBecomesMaster()
    {
        var vrrp = Create(priority: 100);
        var effects = vrrp.Start(T0, faulted: false);

        Assert.Equal(VrrpState.Backup, vrrp.State);
        Assert.Equal(new StateChanged(VrrpState.Init, VrrpState.Backup, "startup"), Assert.Single(effects));
        // v2: 3 * 1 s + (256 - 100) / 256 s
        Assert.Equal(T0 + TimeSpan.FromSeconds(3 + 156 / 256.0), vrrp.Deadline);
        Assert.Empty(vrrp.OnTimer(vrrp.Deadline!.Value - Ms(1)));

        effects = vrrp.OnTimer(vrrp.Deadline!.Value);

        Assert.Equal(VrrpState.Master, vrrp.State);
        Assert.IsType<TakeAddresses>(effects[0]);
        Assert.Equal(new SendAdvert(100), effects[1]);
        Assert.Equal(Local, vrrp.MasterAddress);
    }

    [Fact]
    public void Start_AddressOwner_IsMasterAtOnce()
    {
        var vrrp = Create(priority: 255);
        var effects = vrrp.Start(T0, faulted: false);

        Assert.Equal(VrrpState.Master, vrrp.State);
        Assert.Contains(new SendAdvert(255), effects);
        Assert.Equal(T0 + TimeSpan.FromSeconds(1), vrrp.Deadline);
    }

    [Fact]
    public void Start_StateMaster_TakesOverAfterOneIntervalPlusSkewWhenSilent()
    {
        var vrrp = Create(priority: 150, startAsMaster: true);
        vrrp.Start(T0, faulted: false);

        Assert.Equal(T0 + TimeSpan.FromSeconds(1 + 106 / 256.0), vrrp.Deadline);
        vrrp.OnTimer(vrrp.Deadline!.Value);
        Assert.Equal(VrrpState.Master, vrrp.State);
    }

    [Fact]
    public void Start_Faulted_EntersFaultWithoutTimer()
    {
        var vrrp = Create();
        vrrp.Start(T0, faulted: true, "eth1 down");
        Assert.Equal(VrrpState.Fault, vrrp.State);
        Assert.Null(vrrp.Deadline);
        Assert.Equal("eth1 down", vrrp.LastReason);
    }

    [Fact]
    public void Backup_HigherPriorityAdvert_ResetsMasterDownTimer()
    {
        var vrrp = Create(priority: 100);
        vrrp.Start(T0, false);
        var now = T0 + TimeSpan.FromSeconds(2);

        Assert.Empty(vrrp.OnAdvert(now, Advert(150), Higher));

        Assert.Equal(now + vrrp.MasterDownInterval, vrrp.Deadline);
        Assert.Equal(Higher, vrrp.MasterAddress);
        Assert.Equal(150, vrrp.MasterPriority);
    }

    [Fact]
    public void Backup_PriorityZero_TakesOverAfterSkewTime()
    {
        var vrrp = Create(priority: 100);
        vrrp.Start(T0, false);
        vrrp.OnAdvert(T0, Advert(150), Higher);

        vrrp.OnAdvert(T0 + Ms(500), Advert(0), Higher);

        Assert.Equal(T0 + Ms(500) + TimeSpan.FromSeconds(156 / 256.0), vrrp.Deadline);
        vrrp.OnTimer(vrrp.Deadline!.Value);
        Assert.Equal(VrrpState.Master, vrrp.State);
    }

    [Fact]
    public void Backup_LowerPriorityAdvertWithPreempt_TakesOverWhenTimerExpires()
    {
        var vrrp = Create(priority: 150);
        vrrp.Start(T0, false);
        var deadline = vrrp.Deadline;

        vrrp.OnAdvert(T0 + Ms(900), Advert(100), Lower);

        Assert.Equal(deadline, vrrp.Deadline);
        vrrp.OnTimer(deadline!.Value);
        Assert.Equal(VrrpState.Master, vrrp.State);
    }

    [Fact]
    public void Backup_LowerPriorityAdvertWithNopreempt_StaysBackup()
    {
        var vrrp = Create(priority: 150, preempt: false);
        vrrp.Start(T0, false);
        for (int i = 1; i <= 10; i++)
        {
            var now = T0 + TimeSpan.FromSeconds(i);
            vrrp.OnAdvert(now, Advert(100), Lower);
            vrrp.OnTimer(now);
        }
        Assert.Equal(VrrpState.Backup, vrrp.State);
    }

    [Fact]
    public void Backup_PreemptDelay_PreemptsLowerMasterOnlyAfterDelay()
    {
        var vrrp = Create(priority: 150, preemptDelay: TimeSpan.FromSeconds(10));
        vrrp.Start(T0, false);
        var now = T0;
        while (vrrp.State == VrrpState.Backup && now < T0 + TimeSpan.FromSeconds(30))
        {
            now += TimeSpan.FromSeconds(1);
            vrrp.OnAdvert(now, Advert(100), Lower);
            vrrp.OnTimer(now);
        }
        Assert.Equal(VrrpState.Master, vrrp.State);
        // First lower advert at +1 s, delay 10 s, then the master down interval (~3.4 s) must expire.
        Assert.InRange(now - T0, TimeSpan.FromSeconds(13), TimeSpan.FromSeconds(16));
    }

    [Fact]
    public void Master_HigherPriorityAdvert_ReleasesAndBecomesBackup()
    {
        var vrrp = MasterAt(priority: 100);

        var effects = vrrp.OnAdvert(T0 + TimeSpan.FromSeconds(10), Advert(200), Lower);

        Assert.Equal(VrrpState.Backup, vrrp.State);
        Assert.IsType<ReleaseAddresses>(effects[0]);
        Assert.Equal(VrrpState.Backup, Assert.IsType<StateChanged>(effects[1]).To);
        Assert.Equal(Lower, vrrp.MasterAddress);
    }

    [Theory]
    [InlineData("10.0.0.3", VrrpState.Backup)]
    [InlineData("10.0.0.1", VrrpState.Master)]
    public void Master_EqualPriority_HigherAddressWins(string source, VrrpState expected)
    {
        var vrrp = MasterAt(priority: 100);
        vrrp.OnAdvert(T0 + TimeSpan.FromSeconds(10), Advert(100), IPAddress.Parse(source));
        Assert.Equal(expected, vrrp.State);
    }

    [Fact]
    public void Master_LowerPriorityAdvert_Ignored()
    {
        var vrrp = MasterAt(priority: 100);
        Assert.Empty(vrrp.OnAdvert(T0 + TimeSpan.FromSeconds(10), Advert(50), Higher));
        Assert.Equal(VrrpState.Master, vrrp.State);
    }

    [Fact]
    public void Master_PriorityZeroFromOther_AdvertisesAtOnce()
    {
        var vrrp = MasterAt(priority: 100);
        var now = T0 + TimeSpan.FromSeconds(10.5);
        Assert.Equal([new SendAdvert(100)], vrrp.OnAdvert(now, Advert(0), Higher));
        Assert.Equal(now + TimeSpan.FromSeconds(1), vrrp.Deadline);
    }

    [Fact]
    public void Master_Timer_AdvertisesEveryInterval()
    {
        var vrrp = MasterAt(priority: 100, version: 3, intervalCs: 10);
        int adverts = 0;
        var start = vrrp.Deadline!.Value;
        for (var now = start; now < start + TimeSpan.FromSeconds(1); now += Ms(1))
            adverts += vrrp.OnTimer(now).Count(e => e is SendAdvert);
        Assert.Equal(10, adverts);
    }

    [Fact]
    public void V3Backup_LearnsMasterInterval()
    {
        var vrrp = Create(version: 3, priority: 100, intervalCs: 100);
        vrrp.Start(T0, false);

        vrrp.OnAdvert(T0, Advert(200, version: 3, intervalCs: 10), Higher);

        Assert.Equal(10, vrrp.MasterAdvertIntervalCentiseconds);
        // 3 * 100 ms + (256 - 100) * 100 ms / 256
        Assert.Equal(Ms(300 + 156 * 100 / 256.0).TotalMilliseconds, vrrp.MasterDownInterval.TotalMilliseconds, 3);
    }

    [Fact]
    public void Fault_FromMaster_AdvertisesZeroAndReleases()
    {
        var vrrp = MasterAt(priority: 100);
        var effects = vrrp.SetFault(T0 + TimeSpan.FromSeconds(9), true, "track_interface eth1 down");

        Assert.Equal(new SendAdvert(0), effects[0]);
        Assert.IsType<ReleaseAddresses>(effects[1]);
        Assert.Equal(VrrpState.Fault, vrrp.State);
        Assert.Null(vrrp.Deadline);

        vrrp.SetFault(T0 + TimeSpan.FromSeconds(20), false, "track_interface eth1 up");
        Assert.Equal(VrrpState.Backup, vrrp.State);
        Assert.NotNull(vrrp.Deadline);
    }

    [Fact]
    public void Fault_AdvertsIgnored()
    {
        var vrrp = Create();
        vrrp.Start(T0, true);
        Assert.Empty(vrrp.OnAdvert(T0, Advert(0), Higher));
        Assert.Equal(VrrpState.Fault, vrrp.State);
    }

    [Fact]
    public void Stop_FromMaster_AdvertisesZeroAndReleases()
    {
        var vrrp = MasterAt(priority: 100);
        var effects = vrrp.Stop(T0 + TimeSpan.FromSeconds(9));
        Assert.Equal(new SendAdvert(0), effects[0]);
        Assert.IsType<ReleaseAddresses>(effects[1]);
        Assert.Equal(VrrpState.Stopped, vrrp.State);
    }

    [Fact]
    public void SetPriority_Master_AdvertisesNewPriorityAtOnce()
    {
        var vrrp = MasterAt(priority: 100);
        Assert.Equal([new SendAdvert(70)], vrrp.SetPriority(T0, 70));
        Assert.Single(vrrp.SetPriority(T0, -50));
        Assert.Equal(1, vrrp.Priority);
        vrrp.SetPriority(T0, 300);
        Assert.Equal(254, vrrp.Priority);
    }

    [Fact]
    public void Follow_SyncGroupMaster_TakesOverUnlessFaulted()
    {
        var a = Create();
        a.Start(T0, false);
        a.Follow(T0, VrrpState.Master, "sync group VG1");
        Assert.Equal(VrrpState.Master, a.State);

        var b = Create();
        b.Start(T0, true, "down");
        b.Follow(T0, VrrpState.Master, "sync group VG1");
        Assert.Equal(VrrpState.Fault, b.State);
    }

    private static VrrpStateMachine MasterAt(byte priority, int version = 2, int intervalCs = 100)
    {
        var vrrp = Create(version, priority, intervalCs);
        vrrp.Start(T0, false);
        vrrp.OnTimer(vrrp.Deadline!.Value);
        Assert.Equal(VrrpState.Master, vrrp.State);
        return vrrp;
    }
}
