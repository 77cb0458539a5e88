using System.Net;
using Rampart.Vrrp.Config;

namespace Rampart.Vrrp.Tests.Config;

public class KeepalivedConfigParserTests
{
    private const string Realistic = """
        ! Configuration File for keepalived
        global_defs {
           router_id lb01
           vrrp_version 2
           script_user keepalived_script keepalived
           enable_script_security
           vrrp_garp_master_delay 3
           vrrp_garp_master_repeat 4
           vrrp_garp_master_refresh 60
           vrrp_garp_master_refresh_repeat 2
           vrrp_garp_interval 0.001
           notification_email {
               ops@example.com
           }
           smtp_server 127.0.0.1
        }

        vrrp_script chk_haproxy {
            script "/usr/bin/killall -0 haproxy"   # cheap liveness check
            interval 2
            timeout 1
            weight -20 reverse
            rise 2
            fall 3
            user nobody nogroup
            init_fail
        }

        vrrp_script chk_dns {
            script /usr/local/bin/check_dns --quick
            interval 0.5
        }

        vrrp_sync_group VG_1 {
            group {
                VI_1
                VI_6
            }
            notify_master "/etc/keepalived/notify.sh GROUP master"
            notify /etc/keepalived/notify-all.sh
        }

        vrrp_instance VI_1{
            state MASTER
            interface eth0
            virtual_router_id 51
            priority 150
            advert_int 1
            nopreempt
            preempt_delay 10
            unicast_src_ip 192.0.2.10
            unicast_peer {
                192.0.2.11
                192.0.2.12
            }
            authentication {
                auth_type PASS
                auth_pass s3cret
            }
            virtual_ipaddress {
                10.0.0.100/24 dev eth0 label eth0:vip scope global
                10.0.0.101 brd 10.0.0.255
            }
            virtual_ipaddress_excluded {
                10.0.1.1/32 broadcast 10.0.1.255 dev eth1
            }
            track_script {
                chk_haproxy
                chk_dns weight 5
            }
            track_interface {
                eth1
                eth2 weight -10
            }
            notify_master "/etc/keepalived/notify.sh master"
            notify_backup "/etc/keepalived/notify.sh backup"
            notify_fault "/etc/keepalived/notify.sh fault"
            notify_stop "/etc/keepalived/notify.sh stop"
            notify /etc/keepalived/notify-all.sh
            garp_master_delay 1
            garp_master_refresh_repeat 3
            dont_track_primary
            smtp_alert
            debug
        }

        vrrp_instance VI_6 {
            state BACKUP
            interface eth0
            virtual_router_id 51
            priority 100
            version 3
            advert_int 0.05
            preempt
            unicast_peer {
                2001:db8::11
            }
            virtual_ipaddress {
                2001:db8::100/64 dev eth0
                fe80::1
            }
        }
        """;

    private static KeepalivedConfig ParseOk(string text)
    {
        var result = KeepalivedConfigParser.ParseText(text);
        Assert.False(result.HasErrors, string.Join("\n", result.Diagnostics));
        return Assert.IsType<KeepalivedConfig>(result.Config);
    }

    [Fact]
    public void ParseText_RealisticConfig_ReadsGlobalDefs()
    {
        var global = ParseOk(Realistic).Global;

        Assert.Equal("lb01", global.RouterId);
        Assert.Equal(2, global.VrrpVersion);
        Assert.Equal("keepalived_script", global.ScriptUser);
        Assert.Equal("keepalived", global.ScriptGroup);
        Assert.True(global.EnableScriptSecurity);
        Assert.Equal(TimeSpan.FromSeconds(3), global.Garp.MasterDelay);
        Assert.Equal(4, global.Garp.MasterRepeat);
        Assert.Equal(TimeSpan.FromSeconds(60), global.Garp.MasterRefresh);
        Assert.Equal(2, global.Garp.MasterRefreshRepeat);
        Assert.Equal(TimeSpan.FromMilliseconds(1), global.Garp.Interval);
        Assert.Equal(new SourceLocation("keepalived.conf", 2), global.Location);
    }

    [Fact]
    public void ParseText_RealisticConfig_WarnsOnlyAboutUnsupportedGlobals()
    {
        var result = KeepalivedConfigParser.ParseText(Realistic);

        Assert.Equal(
        [
            "keepalived.conf:12: warning: notification_email: global_defs: notification_email is not supported; ignored",
            "keepalived.conf:15: warning: smtp_server: global_defs: smtp_server is not supported; ignored",
        ], result.Diagnostics.Select(d => d.ToString()));
    }

    [Fact]
    public void ParseText_RealisticConfig_ReadsScripts()
    {
        var scripts = ParseOk(Realistic).Scripts;

        Assert.Equal(2, scripts.Count);
        var haproxy = scripts[0];
        Assert.Equal("chk_haproxy", haproxy.Name);
        Assert.Equal("/usr/bin/killall -0 haproxy", haproxy.Script);
        Assert.Equal(TimeSpan.FromSeconds(2), haproxy.Interval);
        Assert.Equal(TimeSpan.FromSeconds(1), haproxy.Timeout);
        Assert.Equal(-20, haproxy.Weight);
        Assert.True(haproxy.WeightReverse);
        Assert.Equal(2, haproxy.Rise);
        Assert.Equal(3, haproxy.Fall);
        Assert.Equal("nobody", haproxy.User);
        Assert.Equal("nogroup", haproxy.Group);
        Assert.Equal(new SourceLocation("keepalived.conf", 18), haproxy.Location);

        var dns = scripts[1];
        Assert.Equal("/usr/local/bin/check_dns --quick", dns.Script);
        Assert.Equal(TimeSpan.FromMilliseconds(500), dns.Interval);
        Assert.Null(dns.Timeout);
        Assert.Equal(0, dns.Weight);
        Assert.False(dns.WeightReverse);
        Assert.Null(dns.User);
    }

    [Fact]
    public void ParseText_RealisticConfig_ReadsIPv4UnicastInstance()
    {
        var vi1 = ParseOk(Realistic).Instances[0];

        Assert.Equal("VI_1", vi1.Name);
        Assert.Equal(InitialState.Master, vi1.State);
        Assert.Equal("eth0", vi1.Interface);
        Assert.Equal(51, vi1.VirtualRouterId);
        Assert.Equal(150, vi1.Priority);
        Assert.Equal(TimeSpan.FromSeconds(1), vi1.AdvertInterval);
        Assert.Equal(2, vi1.Version);
        Assert.False(vi1.Preempt);
        Assert.Equal(TimeSpan.FromSeconds(10), vi1.PreemptDelay);
        Assert.Equal(IPAddress.Parse("192.0.2.10"), vi1.UnicastSrcIp);
        Assert.Equal([IPAddress.Parse("192.0.2.11"), IPAddress.Parse("192.0.2.12")], vi1.UnicastPeers);
        Assert.Equal(VrrpAuthType.Pass, vi1.AuthType);
        Assert.Equal("s3cret", vi1.AuthPass);
        Assert.Equal(
            [
                new VirtualAddress(IPAddress.Parse("10.0.0.100"), 24, "eth0", "eth0:vip", "global"),
                new VirtualAddress(IPAddress.Parse("10.0.0.101"), 32),
            ], vi1.VirtualAddresses);
        Assert.Equal([new VirtualAddress(IPAddress.Parse("10.0.1.1"), 32, "eth1")], vi1.ExcludedAddresses);
        Assert.Equal(
            [
                new TrackRef("chk_haproxy", null, new("keepalived.conf", 68)),
                new TrackRef("chk_dns", 5, new("keepalived.conf", 69)),
            ], vi1.TrackScripts);
        Assert.Equal(
            [
                new TrackRef("eth1", null, new("keepalived.conf", 72)),
                new TrackRef("eth2", -10, new("keepalived.conf", 73)),
            ], vi1.TrackInterfaces);
        Assert.Equal("/etc/keepalived/notify.sh master", vi1.NotifyMaster);
        Assert.Equal("/etc/keepalived/notify.sh backup", vi1.NotifyBackup);
        Assert.Equal("/etc/keepalived/notify.sh fault", vi1.NotifyFault);
        Assert.Equal("/etc/keepalived/notify.sh stop", vi1.NotifyStop);
        Assert.Equal("/etc/keepalived/notify-all.sh", vi1.Notify);
        Assert.True(vi1.DontTrackPrimary);
        Assert.False(vi1.IsIPv6);
        Assert.Equal(new SourceLocation("keepalived.conf", 43), vi1.Location);
    }

    [Fact]
    public void ParseText_InstanceGarp_OverridesGlobalPerValue()
    {
        var config = ParseOk(Realistic);

        var expectedVi1 = new GarpSettings
        {
            MasterDelay = TimeSpan.FromSeconds(1),
            MasterRepeat = 4,
            MasterRefresh = TimeSpan.FromSeconds(60),
            MasterRefreshRepeat = 3,
            Interval = TimeSpan.FromMilliseconds(1),
        };
        Assert.Equal(expectedVi1, config.Instances[0].Garp);
        Assert.Equal(config.Global.Garp, config.Instances[1].Garp);
    }

    [Fact]
    public void ParseText_RealisticConfig_ReadsIPv6Version3Instance()
    {
        var vi6 = ParseOk(Realistic).Instances[1];

        Assert.Equal(InitialState.Backup, vi6.State);
        Assert.Equal(3, vi6.Version);
        Assert.Equal(TimeSpan.FromMilliseconds(50), vi6.AdvertInterval);
        Assert.True(vi6.Preempt);
        Assert.True(vi6.IsIPv6);
        Assert.Equal(
            [
                new VirtualAddress(IPAddress.Parse("2001:db8::100"), 64, "eth0"),
                new VirtualAddress(IPAddress.Parse("fe80::1"), 128),
            ], vi6.VirtualAddresses);
        Assert.Equal([IPAddress.Parse("2001:db8::11")], vi6.UnicastPeers);
        Assert.Equal(VrrpAuthType.None, vi6.AuthType);
        Assert.Null(vi6.AuthPass);
    }

    [Fact]
    public void ParseText_RealisticConfig_ReadsSyncGroup()
    {
        var group = Assert.Single(ParseOk(Realistic).SyncGroups);

        Assert.Equal("VG_1", group.Name);
        Assert.Equal(["VI_1", "VI_6"], group.Group);
        Assert.Equal("/etc/keepalived/notify.sh GROUP master", group.NotifyMaster);
        Assert.Equal("/etc/keepalived/notify-all.sh", group.Notify);
        Assert.Null(group.NotifyBackup);
        Assert.Equal(new SourceLocation("keepalived.conf", 34), group.Location);
    }

    [Fact]
    public void ParseText_InstanceWithoutVersion_TakesGlobalVrrpVersion()
    {
        var config = ParseOk("""
            global_defs {
                vrrp_version 3
            }
            vrrp_instance VI_1 {
                interface eth0
                virtual_router_id 7
                advert_int 0.1
            }
            """);

        var instance = Assert.Single(config.Instances);
        Assert.Equal(3, instance.Version);
        Assert.Equal(TimeSpan.FromMilliseconds(100), instance.AdvertInterval);
        Assert.Equal(100, instance.Priority);
        Assert.Equal(new GarpSettings(), instance.Garp);
    }

    [Fact]
    public void ParseText_NoGlobalDefs_UsesDefaults()
    {
        var config = ParseOk("vrrp_instance VI_1 {\ninterface eth0\nvirtual_router_id 1\n}\n");

        Assert.Equal(2, config.Global.VrrpVersion);
        Assert.Null(config.Global.RouterId);
        Assert.Equal(2, config.Instances[0].Version);
        Assert.Empty(config.Instances[0].VirtualAddresses);
        Assert.Empty(config.Scripts);
        Assert.Empty(config.SyncGroups);
    }

    [Fact]
    public void Accepts_CommentsQuotesAndGluedBraces()
    {
        var config = ParseOk("""
            # comment line
            ! another comment
            vrrp_script "chk x"{ script "/bin/echo \"a b\" # not a comment" # a comment
            }
            vrrp_instance VI_1{interface eth0 ! trailing comment
            virtual_router_id 9
            virtual_ipaddress { 10.1.1.1/16 }
            track_script {
            "chk x" weight 3 }}
            """);

        var script = Assert.Single(config.Scripts);
        Assert.Equal("chk x", script.Name);
        Assert.Equal("/bin/echo \"a b\" # not a comment", script.Script);
        var instance = Assert.Single(config.Instances);
        Assert.Equal("eth0", instance.Interface);
        Assert.Equal(9, instance.VirtualRouterId);
        Assert.Equal([new VirtualAddress(IPAddress.Parse("10.1.1.1"), 16)], instance.VirtualAddresses);
        Assert.Equal([new TrackRef("chk x", 3, new("keepalived.conf", 9))], instance.TrackScripts);
    }

    [Fact]
    public void Accepts_SameVirtualRouterIdOnOtherInterfaceOrFamily()
    {
        var config = ParseOk("""
            vrrp_instance A {
                interface eth0
                virtual_router_id 5
                virtual_ipaddress {
                    10.0.0.1
                }
            }
            vrrp_instance B {
                interface eth1
                virtual_router_id 5
            }
            vrrp_instance C {
                interface eth0
                virtual_router_id 5
                virtual_ipaddress {
                    2001:db8::1
                }
            }
            """);

        Assert.Equal(3, config.Instances.Count);
    }

    [Fact]
    public void ParseText_AuthPassLongerThan8_WarnsAndTruncates()
    {
        var result = KeepalivedConfigParser.ParseText("""
            vrrp_instance VI_1 {
                interface eth0
                virtual_router_id 1
                authentication {
                    auth_type PASS
                    auth_pass 0123456789ab
                }
            }
            """);

        Assert.Equal(
            ["keepalived.conf:6: warning: auth_pass: vrrp_instance VI_1: auth_pass is 12 characters, VRRP carries 8; truncated to the first 8"],
            result.Diagnostics.Select(d => d.ToString()));
        var instance = Assert.Single(result.Config!.Instances);
        Assert.Equal("01234567", instance.AuthPass);
        Assert.Equal(VrrpAuthType.Pass, instance.AuthType);
    }

    [Fact]
    public void Rejects_AuthTypeAh()
    {
        var result = KeepalivedConfigParser.ParseText("""
            vrrp_instance VI_1 {
                interface eth0
                virtual_router_id 1
                authentication {
                    auth_type AH
                    auth_pass secret
                }
            }
            """);

        Assert.Null(result.Config);
        Assert.Equal(
            ["keepalived.conf:5: error: auth_type: vrrp_instance VI_1: auth_type AH is not supported; use auth_type PASS or remove authentication"],
            result.Diagnostics.Select(d => d.ToString()));
    }

    [Fact]
    public void ParseText_AuthenticationWithVersion3_WarnsAndDrops()
    {
        var result = KeepalivedConfigParser.ParseText("""
            vrrp_instance VI_1 {
                interface eth0
                virtual_router_id 1
                version 3
                authentication {
                    auth_type PASS
                    auth_pass secret
                }
            }
            """);

        Assert.Equal(
            ["keepalived.conf:5: warning: authentication: vrrp_instance VI_1: authentication is not part of VRRPv3; ignored"],
            result.Diagnostics.Select(d => d.ToString()));
        Assert.Null(result.Config!.Instances[0].AuthPass);
        Assert.Equal(VrrpAuthType.None, result.Config.Instances[0].AuthType);
    }

    [Fact]
    public void ParseText_UnknownKeywordsAndSections_WarnAndSkipBlocks()
    {
        var result = KeepalivedConfigParser.ParseText("""
            global_defs {
                frobnicate 1
                weird_block {
                    priority 300 {
                    }
                }
            }
            virtual_server 10.0.0.1 80 {
                real_server 10.0.0.2 80 {
                    weight 1
                }
            }
            mystery {
            }
            vrrp_instance VI_1 {
                interface eth0
                virtual_router_id 1
                bogus yes
                use_vmac
                virtual_ipaddress {
                    10.0.0.1 no_track
                }
            }
            """);

        Assert.Equal(
            [
                "keepalived.conf:2: warning: frobnicate: global_defs: unknown keyword 'frobnicate'; ignored",
                "keepalived.conf:3: warning: weird_block: global_defs: unknown keyword 'weird_block'; ignored",
                "keepalived.conf:8: warning: virtual_server: section virtual_server is not handled by rampart vrrp; ignored",
                "keepalived.conf:13: warning: mystery: unknown section 'mystery'; ignored",
                "keepalived.conf:18: warning: bogus: vrrp_instance VI_1: unknown keyword 'bogus'; ignored",
                "keepalived.conf:19: warning: use_vmac: vrrp_instance VI_1: use_vmac is not supported; ignored",
                "keepalived.conf:21: warning: virtual_ipaddress: vrrp_instance VI_1: virtual_ipaddress 10.0.0.1 option 'no_track' is not supported; ignored",
            ], result.Diagnostics.Select(d => d.ToString()));
        Assert.NotNull(result.Config);
        Assert.Single(result.Config.Instances);
    }

    [Fact]
    public void ParseText_Priority255WithWeights_Warns()
    {
        var result = KeepalivedConfigParser.ParseText("""
            vrrp_script chk {
                script /bin/true
                weight 10
            }
            vrrp_instance VI_1 {
                interface eth0
                virtual_router_id 1
                priority 255
                track_script {
                    chk
                }
            }
            """);

        Assert.Equal(
            ["keepalived.conf:8: warning: priority: vrrp_instance VI_1: priority 255 (address owner) cannot be changed by track_script/track_interface weights; lower the priority or remove the weights"],
            result.Diagnostics.Select(d => d.ToString()));
        Assert.NotNull(result.Config);
    }

    [Fact]
    public void ParseText_Priority255WithoutWeights_DoesNotWarn()
    {
        var result = KeepalivedConfigParser.ParseText("""
            vrrp_script chk {
                script /bin/true
            }
            vrrp_instance VI_1 {
                interface eth0
                virtual_router_id 1
                priority 255
                track_script {
                    chk
                }
                track_interface {
                    eth1 weight 0
                }
            }
            """);

        Assert.Empty(result.Diagnostics);
    }
}
