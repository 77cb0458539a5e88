using Rampart.Testing;

namespace Rampart.Integration.Tests.Vrrp;

/// <summary>rampart and keepalived 2.2 (from apt) in one VRRP group, as during a migration.</summary>
public class KeepalivedInteropTests
{
    [Theory]
    [InlineData(2, true)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    [InlineData(3, false)]
    public async Task MixedGroup_FailoverAndPreemptionBothWays(int version, bool rampartIsMaster)
    {
        using var lab = new VrrpLab();
        string interval = version == 2 ? "1" : "0.1";
        string Master() => VrrpLab.Config("r1", 150, version, interval, state: "MASTER");
        string Backup() => VrrpLab.Config("r2", 100, version, interval);
        RouterProcess StartR1() => rampartIsMaster ? lab.StartRampart("r1", Master()) : lab.StartKeepalived("r1", Master());
        var r1 = StartR1();
        var r2 = rampartIsMaster ? lab.StartKeepalived("r2", Backup()) : lab.StartRampart("r2", Backup());
        var rampart = rampartIsMaster ? r1 : r2;

        await lab.WaitForAnswerAsync("r1", seconds: 15);
        await lab.WaitForStateAsync(rampart, rampartIsMaster ? "MASTER" : "BACKUP");
        if (!rampartIsMaster)
        {
            // rampart hears keepalived's adverts as valid and follows it.
            await Wait.UntilAsync(async () => (await rampart.InstanceAsync()).AdvertsReceived > 0, TimeSpan.FromSeconds(5), "rampart hears keepalived");
            var seen = await rampart.InstanceAsync();
            Assert.Equal("10.213.0.11", seen.MasterAddress);
            Assert.Empty(seen.InvalidPackets);
        }
        else
        {
            // keepalived hears rampart's adverts: it logs entering BACKUP and never takes the VIP while r1 lives.
            await FailoverTests.WaitForOutput(r2, "Entering BACKUP STATE");
        }
        Assert.False(lab.HasAddress("r2", VrrpLab.Vip), $"both hold the VIP\n{lab.Outputs()}");

        // The master's host dies.
        r1.Crash();
        lab.Lan.SetLink("r1", up: false);
        await lab.WaitForAnswerAsync("r2", seconds: 10);

        // It comes back and preempts.
        lab.Lan.SetLink("r1", up: true);
        r1 = StartR1();
        await lab.WaitForAnswerAsync("r1", seconds: 15);
        await Wait.UntilAsync(() => !lab.HasAddress("r2", VrrpLab.Vip), TimeSpan.FromSeconds(10), $"r2 released the VIP\n{lab.Outputs()}");
        if (!rampartIsMaster) Assert.Equal("BACKUP", (await r2.InstanceAsync()).State);
    }
}
