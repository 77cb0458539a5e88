using Rampart.Testing;

namespace Rampart.Integration.Tests.Vrrp;

/// <summary>vrrp_script, track_interface, sync groups, notify scripts, reload.</summary>
public class TrackingTests
{
    [Fact]
    public async Task TrackScriptFails_NegativeWeightMovesVip()
    {
        using var lab = new VrrpLab();
        var healthy = lab.WriteFile("r1-healthy", "");
        string script = $$"""
            vrrp_script chk_service {
                script "/usr/bin/test -f {{healthy}}"
                interval 0.2
                weight -60
                fall 1
                rise 1
            }
            """;
        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, state: "MASTER", extraTop: script, extraInstance: "    track_script {\n        chk_service\n    }"));
        var r2 = lab.StartRampart("r2", VrrpLab.Config("r2", 100));
        await lab.WaitForAnswerAsync("r1");
        await lab.WaitForStateAsync(r2, "BACKUP");

        File.Delete(healthy);

        await Wait.UntilAsync(async () => (await r1.InstanceAsync()).EffectivePriority == 90, TimeSpan.FromSeconds(5), "r1 priority 150-60");
        await lab.WaitForStateAsync(r2, "MASTER");
        await lab.WaitForStateAsync(r1, "BACKUP");
        await lab.WaitForAnswerAsync("r2");

        // A reload keeps the failing check's verdict: r1 must not flap back to priority 150 for a moment.
        var before = await r1.InstanceAsync();
        r1.Hangup();
        await FailoverTests.WaitForOutput(r1, "reload: applying");
        var after = await r1.InstanceAsync();
        Assert.Equal(("BACKUP", 90, before.Transitions), (after.State, after.EffectivePriority, after.Transitions));

        File.WriteAllText(healthy, "");
        await lab.WaitForStateAsync(r1, "MASTER");
        await lab.WaitForAnswerAsync("r1");
    }

    [Fact]
    public async Task TrackInterfaceDown_Fault_VipMoves()
    {
        using var lab = new VrrpLab();
        AddUplink(lab);
        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, state: "MASTER", extraInstance: "    track_interface {\n        uplink\n    }"));
        var r2 = lab.StartRampart("r2", VrrpLab.Config("r2", 100));
        await lab.WaitForAnswerAsync("r1");

        lab.Lan["r1"].Exec("ip", "link", "set", "uplink", "down");

        await lab.WaitForStateAsync(r1, "FAULT");
        await lab.WaitForStateAsync(r2, "MASTER");
        await lab.WaitForAnswerAsync("r2");
        Assert.Contains("uplink down", (await r1.InstanceAsync()).Reason);

        lab.Lan["r1"].Exec("ip", "link", "set", "uplink", "up");
        await lab.WaitForStateAsync(r1, "MASTER");
    }

    [Fact]
    public async Task SyncGroup_OneInstanceFaults_AllMoveTogether()
    {
        using var lab = new VrrpLab();
        AddUplink(lab);
        static string Config(string router, int priority, string track) => $$"""
            global_defs {
                vrrp_version 3
            }
            vrrp_sync_group VG1 {
                group {
                    VI_1
                    VI_2
                }
            }
            vrrp_instance VI_1 {
                state BACKUP
                interface eth0
                virtual_router_id 51
                priority {{priority}}
                advert_int 0.1
                virtual_ipaddress {
                    10.213.0.100/24
                }
                {{track}}
            }
            vrrp_instance VI_2 {
                state BACKUP
                interface eth0
                virtual_router_id 52
                priority {{priority}}
                advert_int 0.1
                virtual_ipaddress {
                    10.213.0.101/24
                }
            }
            """;
        var r1 = lab.StartRampart("r1", Config("r1", 150, "track_interface {\n uplink\n }"));
        var r2 = lab.StartRampart("r2", Config("r2", 100, ""));
        await lab.WaitForStateAsync(r1, "MASTER", "VI_1");
        await lab.WaitForStateAsync(r1, "MASTER", "VI_2");

        lab.Lan["r1"].Exec("ip", "link", "set", "uplink", "down");

        await lab.WaitForStateAsync(r1, "FAULT", "VI_1");
        await lab.WaitForStateAsync(r1, "FAULT", "VI_2");
        await lab.WaitForStateAsync(r2, "MASTER", "VI_1");
        await lab.WaitForStateAsync(r2, "MASTER", "VI_2");
        Assert.True(lab.HasAddress("r2", System.Net.IPAddress.Parse("10.213.0.101")));
        Assert.False(lab.HasAddress("r1", System.Net.IPAddress.Parse("10.213.0.101")));
        Assert.StartsWith("sync group VG1", (await r1.InstanceAsync("VI_2")).Reason);
    }

    /// <summary>A second interface on r1 to track: a veth pair whose far end stays up.</summary>
    private static void AddUplink(VrrpLab lab)
    {
        lab.Lan["r1"].Exec("ip", "link", "add", "uplink", "type", "veth", "peer", "name", "uplink-far");
        lab.Lan["r1"].Exec("ip", "link", "set", "uplink-far", "up");
        lab.Lan["r1"].Exec("ip", "link", "set", "uplink", "up");
    }

    [Fact]
    public async Task NotifyScripts_CalledWithKeepalivedArguments()
    {
        using var lab = new VrrpLab();
        var log = Path.Combine(lab.Dir, "notify.log");
        var script = lab.WriteFile("notify.sh", $"#!/bin/sh\necho \"$@\" >> {log}\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var masterLog = Path.Combine(lab.Dir, "master.log");
        string notify = $"""
                notify {script}
                notify_master "/bin/sh -c 'echo became-master >> {masterLog}'"
            """;
        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, state: "MASTER", extraInstance: notify));

        await lab.WaitForStateAsync(r1, "MASTER");
        await Wait.UntilAsync(() => File.Exists(masterLog) && File.Exists(log) && File.ReadAllText(log).Contains("MASTER"), TimeSpan.FromSeconds(5), "notify scripts ran");
        Assert.True(r1.Terminate(TimeSpan.FromSeconds(10)));

        var lines = File.ReadAllLines(log);
        Assert.Equal(["INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 MASTER 150", "INSTANCE VI_1 STOP 150"], lines);
        Assert.Equal("became-master", File.ReadAllText(masterLog).Trim());
    }

    [Fact]
    public async Task Reload_AddsVipWithoutFlappingTheOthers()
    {
        using var lab = new VrrpLab();
        // Under nohup: SIGHUP arrives ignored, and must still reload (it did not: .NET keeps an inherited SIG_IGN).
        var r1 = lab.StartRampart("r1", VrrpLab.Config("r1", 150, state: "MASTER"), nohup: true);
        await lab.WaitForStateAsync(r1, "MASTER");
        var before = await r1.InstanceAsync();
        var extra = System.Net.IPAddress.Parse("10.213.0.102");

        // Watch every address change on r1; a marker address proves the watch is live before the reload.
        using var monitor = lab.Lan["r1"].Start("ip", ["-o", "monitor", "address"]);
        var events = new System.Collections.Concurrent.ConcurrentQueue<string>();
        monitor.OutputDataReceived += (_, e) => { if (e.Data is not null) events.Enqueue(e.Data); };
        monitor.BeginOutputReadLine();
        await Wait.UntilAsync(() =>
        {
            if (events.Any(e => e.Contains("10.213.0.199"))) return true;
            lab.Lan["r1"].TryExec("ip", "addr", "del", "10.213.0.199/32", "dev", "eth0");
            lab.Lan["r1"].Exec("ip", "addr", "add", "10.213.0.199/32", "dev", "eth0");
            return false;
        }, TimeSpan.FromSeconds(5), "ip monitor running");

        lab.WriteFile("r1.conf", VrrpLab.Config("r1", 150, state: "MASTER", vip: "10.213.0.100/24\n        10.213.0.102/24"));
        r1.Hangup();

        await Wait.UntilAsync(() => lab.HasAddress("r1", extra), TimeSpan.FromSeconds(5), "new VIP added");
        var after = await r1.InstanceAsync();
        Assert.Equal("MASTER", after.State);
        Assert.Equal(before.Transitions, after.Transitions);
        Assert.Equal(before.Since, after.Since);
        Assert.True(lab.HasAddress("r1", VrrpLab.Vip));
        Assert.DoesNotContain(events, e => e.StartsWith("Deleted") && e.Contains(" 10.213.0.100/"));
        monitor.Kill();

        // A broken file is refused and the running configuration kept.
        lab.WriteFile("r1.conf", "vrrp_instance VI_1 {\n  priority 999\n");
        r1.Hangup();
        await FailoverTests.WaitForOutput(r1, "keeping the running configuration");
        Assert.Equal("MASTER", (await r1.InstanceAsync()).State);
        Assert.True(lab.HasAddress("r1", extra));
    }
}
