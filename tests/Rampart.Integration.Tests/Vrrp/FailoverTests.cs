using System.Net;
using Rampart.Vrrp.Demo;

using Rampart.Testing;

namespace Rampart.Integration.Tests.Vrrp;

/// <summary>Two rampart routers in namespaces; a client reaches whichever holds the VIP.</summary>
public class FailoverTests
{
    [Fact]
    public async Task Election_HigherPriorityHoldsVipAlone()
    {
        using var lab = new VrrpLab();
        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, state: "MASTER"));
        var r2 = lab.StartRampart("r2", VrrpLab.Config("r2", 100));

        await lab.WaitForStateAsync(r1, "MASTER");
        await lab.WaitForStateAsync(r2, "BACKUP");
        await lab.WaitForAnswerAsync("r1");

        Assert.True(lab.HasAddress("r1", VrrpLab.Vip));
        Assert.False(lab.HasAddress("r2", VrrpLab.Vip));
        var backup = await r2.InstanceAsync();
        Assert.Equal("10.213.0.11", backup.MasterAddress);
        Assert.Equal(150, backup.MasterPriority);
        Assert.True(backup.AdvertsReceived > 0);
    }

    [Fact]
    public async Task MasterLinkDown_BackupTakesVipAndClientFollows()
    {
        using var lab = new VrrpLab();
        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, state: "MASTER"));
        var r2 = lab.StartRampart("r2", VrrpLab.Config("r2", 100));
        await lab.WaitForAnswerAsync("r1");
        await lab.WaitForStateAsync(r2, "BACKUP");

        lab.Lan.SetLink("r1", up: false);

        await lab.WaitForStateAsync(r2, "MASTER", seconds: 5);
        await lab.WaitForAnswerAsync("r2");
        // r1 lost its own link: FAULT, and it gave the VIP up.
        await lab.WaitForStateAsync(r1, "FAULT");
        Assert.False(lab.HasAddress("r1", VrrpLab.Vip));

        lab.Lan.SetLink("r1", up: true);
        await lab.WaitForAnswerAsync("r1");
        await lab.WaitForStateAsync(r2, "BACKUP");
    }

    [Fact]
    public async Task MasterKilled_BackupTakesOver_RestartCleansStaleVipAndPreempts()
    {
        using var lab = new VrrpLab();
        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, state: "MASTER"));
        var r2 = lab.StartRampart("r2", VrrpLab.Config("r2", 100));
        await lab.WaitForAnswerAsync("r1");
        await lab.WaitForStateAsync(r2, "BACKUP");

        r1.Crash();
        await lab.WaitForStateAsync(r2, "MASTER", seconds: 5);
        Assert.True(lab.HasAddress("r1", VrrpLab.Vip), "a SIGKILLed daemon cannot remove its VIP");

        var again = lab.StartRampart("r1", VrrpLab.Config("r1", 150, state: "MASTER"));
        Assert.Contains("left on eth0", await WaitForOutput(again, "left on eth0"));
        await lab.WaitForStateAsync(again, "MASTER");
        await lab.WaitForStateAsync(r2, "BACKUP");
        await lab.WaitForAnswerAsync("r1");
        Assert.False(lab.HasAddress("r2", VrrpLab.Vip));
    }

    [Fact]
    public async Task GracefulStop_SendsPriorityZero_BackupTakesOverAfterSkewOnly()
    {
        using var lab = new VrrpLab();
        // v2 with a 1 s interval: the master down interval is 3.6 s, the skew time 0.6 s.
        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, version: 2, advertInt: "1", state: "MASTER"));
        var r2 = lab.StartRampart("r2", VrrpLab.Config("r2", 100, version: 2, advertInt: "1"));
        await lab.WaitForAnswerAsync("r1");
        await lab.WaitForStateAsync(r2, "BACKUP");
        using var prober = lab.Prober(VrrpLab.Vip);
        using var stop = new CancellationTokenSource();
        var probing = prober.RunAsync(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(50), stop.Token);
        await Wait.UntilAsync(() => prober.LastResponder == "r1", TimeSpan.FromSeconds(5), "prober hears r1");
        var stoppedAt = prober.Elapsed;

        Assert.True(r1.Terminate(TimeSpan.FromSeconds(10)), "rampart exits on SIGTERM");

        await Wait.UntilAsync(() => prober.LastResponder == "r2", TimeSpan.FromSeconds(5), "prober hears r2");
        stop.Cancel();
        await probing;
        var (gap, _, after) = UdpProber.Gap(prober.Snapshot(), stoppedAt);
        Assert.Equal("r2", after);
        // Well below the 3.6 s master down interval: only possible through the priority-0 advert.
        Assert.True(gap < TimeSpan.FromSeconds(2), $"gap {gap.TotalMilliseconds} ms");
        Assert.False(lab.HasAddress("r1", VrrpLab.Vip));
        Assert.True((await r2.InstanceAsync()).PriorityZeroReceived >= 1);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task HigherPriorityReturns_PreemptsUnlessNopreempt(bool preempt)
    {
        using var lab = new VrrpLab();
        string extra = preempt ? "" : "    nopreempt";
        var r2 = lab.StartRampart("r2", VrrpLab.Config("r2", 100));
        await lab.WaitForStateAsync(r2, "MASTER");
        await lab.WaitForAnswerAsync("r2");

        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, extraInstance: extra));

        if (preempt)
        {
            // r1 is BACKUP for one master-down interval (~0.35 s) only: polling could miss it, so wait for the outcome.
            await lab.WaitForStateAsync(r1, "MASTER");
            await lab.WaitForStateAsync(r2, "BACKUP");
            await lab.WaitForAnswerAsync("r1");
        }
        else
        {
            await lab.WaitForStateAsync(r1, "BACKUP");
            // Wait for r1 to have heard r2 for several master-down intervals (0.35 s each) without preempting.
            await Wait.UntilAsync(async () => (await r1.InstanceAsync()).AdvertsReceived >= 30, TimeSpan.FromSeconds(10), "r1 hears r2");
            Assert.Equal("BACKUP", (await r1.InstanceAsync()).State);
            Assert.Equal("r2", lab.Ask(VrrpLab.Vip));
        }
    }

    [Fact]
    public async Task PreemptDelay_WaitsBeforeTakingBack()
    {
        using var lab = new VrrpLab();
        var r2 = lab.StartRampart("r2", VrrpLab.Config("r2", 100));
        await lab.WaitForStateAsync(r2, "MASTER");

        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, extraInstance: "    preempt_delay 2"));
        await lab.WaitForStateAsync(r1, "BACKUP");
        var backupSince = (await r1.InstanceAsync()).Since;

        await lab.WaitForStateAsync(r1, "MASTER", seconds: 10);
        var masterSince = (await r1.InstanceAsync()).Since;
        Assert.True(masterSince - backupSince >= TimeSpan.FromSeconds(2), $"preempted after {(masterSince - backupSince).TotalMilliseconds} ms");
        await lab.WaitForAnswerAsync("r1");
    }

    [Fact]
    public async Task Unicast_ElectsAndFailsOver()
    {
        using var lab = new VrrpLab();
        static string Unicast(string self, string peer) => $$"""
                unicast_src_ip {{self}}
                unicast_peer {
                    {{peer}}
                }
            """;
        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, state: "MASTER", extraInstance: Unicast("10.213.0.11", "10.213.0.12")));
        var r2 = lab.StartRampart("r2", VrrpLab.Config("r2", 100, extraInstance: Unicast("10.213.0.12", "10.213.0.11")));
        await lab.WaitForAnswerAsync("r1");
        await lab.WaitForStateAsync(r2, "BACKUP");
        await Wait.UntilAsync(async () => (await r2.InstanceAsync()).AdvertsReceived > 0, TimeSpan.FromSeconds(5), "r2 hears r1 by unicast");

        r1.Crash();
        lab.Lan.SetLink("r1", up: false);

        await lab.WaitForStateAsync(r2, "MASTER", seconds: 5);
        await lab.WaitForAnswerAsync("r2");
    }

    [Fact]
    public async Task IPv6_V3_ElectsAndFailsOver()
    {
        using var lab = new VrrpLab();
        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, state: "MASTER", vip: "fd00:213::100/64"));
        var r2 = lab.StartRampart("r2", VrrpLab.Config("r2", 100, vip: "fd00:213::100/64"));
        await lab.WaitForStateAsync(r1, "MASTER");
        await lab.WaitForStateAsync(r2, "BACKUP");
        await lab.WaitForAnswerAsync("r1", VrrpLab.Vip6);
        Assert.StartsWith("fe80::", (await r2.InstanceAsync()).MasterAddress);

        r1.Crash();
        lab.Lan.SetLink("r1", up: false);

        await lab.WaitForStateAsync(r2, "MASTER", seconds: 5);
        await lab.WaitForAnswerAsync("r2", VrrpLab.Vip6);
    }

    [Fact]
    public async Task V2Authentication_MismatchCountedAndIgnored_MatchFollows()
    {
        using var lab = new VrrpLab();
        static string Auth(string pass) => $"    authentication {{\n        auth_type PASS\n        auth_pass {pass}\n    }}";
        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, version: 2, advertInt: "1", state: "MASTER", extraInstance: Auth("secret1")));
        var r2 = lab.StartRampart("r2", VrrpLab.Config("r2", 100, version: 2, advertInt: "1", extraInstance: Auth("wrong")));
        await lab.WaitForStateAsync(r1, "MASTER");

        // r2 drops every advert of r1 (wrong password), so it takes the VIP too: the operator sees why in status.
        await Wait.UntilAsync(async () => (await r2.InstanceAsync()).InvalidPackets.GetValueOrDefault("AuthMismatch") >= 2, TimeSpan.FromSeconds(10), "auth mismatches counted");
        await lab.WaitForStateAsync(r2, "MASTER");
        Assert.Equal(0, (await r2.InstanceAsync()).AdvertsReceived);

        // With the right password r2 follows r1.
        lab.WriteFile("r2.conf", VrrpLab.Config("r2", 100, version: 2, advertInt: "1", extraInstance: Auth("secret1")));
        r2.Hangup();
        await lab.WaitForStateAsync(r2, "BACKUP");
        Assert.Equal("10.213.0.11", (await r2.InstanceAsync()).MasterAddress);
    }

    internal static async Task<string> WaitForOutput(RouterProcess process, string text)
    {
        await Wait.UntilAsync(() => process.Output.Contains(text, StringComparison.Ordinal), TimeSpan.FromSeconds(10), $"'{text}' in {process.Name}'s log\n{process.Output}");
        return process.Output;
    }
}
