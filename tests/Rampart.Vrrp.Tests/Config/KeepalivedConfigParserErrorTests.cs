using Rampart.Vrrp.Config;

namespace Rampart.Vrrp.Tests.Config;

/// <summary>Every error the parser reports, with its exact text; the config is null whenever one is present.</summary>
public class KeepalivedConfigParserErrorTests
{
    private static string[] Errors(string text)
    {
        var result = KeepalivedConfigParser.ParseText(text);
        Assert.True(result.HasErrors);
        Assert.Null(result.Config);
        return result.Diagnostics.Select(d => d.ToString()).ToArray();
    }

    /// <summary>An instance valid on its own, lines 1-8, with <paramref name="extra"/> inserted at line 4.</summary>
    private static string Instance(string extra, string name = "VI_1") => $$"""
        vrrp_instance {{name}} {
            interface eth0
            virtual_router_id 51
        {{extra}}
            virtual_ipaddress {
                10.0.0.1
            }
        }

        """;

    [Fact]
    public void Rejects_MissingClosingBrace_AtOpeningLine()
    {
        Assert.Equal(
            ["keepalived.conf:2: error: vrrp_instance: vrrp_instance VI_1: '{' is never closed before the end of the file; add '}'"],
            Errors("# header\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n"));
    }

    [Fact]
    public void Rejects_MissingClosingBraceOfNestedBlock_ReportsEveryOpenBlock()
    {
        Assert.Equal(
            [
                "keepalived.conf:4: error: virtual_ipaddress: vrrp_instance VI_1: '{' is never closed before the end of the file; add '}'",
                "keepalived.conf:1: error: vrrp_instance: vrrp_instance VI_1: '{' is never closed before the end of the file; add '}'",
            ],
            Errors("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n"));
    }

    [Fact]
    public void Rejects_UnexpectedClosingBrace()
    {
        Assert.Equal(
            ["keepalived.conf:9: error: }: unexpected '}' with no open block; remove it or add the missing '{'"],
            Errors(Instance("") + "}\n"));
    }

    [Fact]
    public void Rejects_UnterminatedQuote()
    {
        Assert.Equal(
            ["keepalived.conf:4: error: \": quoted string \"/bin/x arg\" is not closed on its line; add the closing '\"'"],
            Errors(Instance("notify_master \"/bin/x arg")));
    }

    [Theory]
    [InlineData("10.0.0.300", "'10.0.0.300' is not an IP address; write ADDR[/PREFIX] [dev IF] [label L] [scope S]")]
    [InlineData("10.0.0", "'10.0.0' is not an IP address; write ADDR[/PREFIX] [dev IF] [label L] [scope S]")]
    [InlineData("eth0", "'eth0' is not an IP address; write ADDR[/PREFIX] [dev IF] [label L] [scope S]")]
    [InlineData("10.0.0.2/33", "'10.0.0.2/33' prefix '33' outside 0-32")]
    [InlineData("10.0.0.2/x", "'10.0.0.2/x' prefix 'x' outside 0-32")]
    [InlineData("2001:db8::1/129", "'2001:db8::1/129' prefix '129' outside 0-128")]
    public void Rejects_BadVirtualAddress(string address, string message)
    {
        var text = $"vrrp_instance VI_1 {{\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {{\n{address}\n}}\n}}\n";

        Assert.Equal([$"keepalived.conf:5: error: virtual_ipaddress: vrrp_instance VI_1: virtual_ipaddress {message}"], Errors(text));
    }

    [Fact]
    public void Rejects_VirtualAddressOptionWithoutValue()
    {
        Assert.Equal(
            ["keepalived.conf:5: error: virtual_ipaddress_excluded: vrrp_instance VI_1: virtual_ipaddress_excluded 10.0.0.9 option 'dev' needs a value; write 'dev VALUE'"],
            Errors("vrrp_instance VI_1 {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress_excluded {\n10.0.0.9 dev\n}\n}\n"));
    }

    [Fact]
    public void Rejects_BadUnicastAddresses()
    {
        Assert.Equal(
            [
                "keepalived.conf:4: error: unicast_src_ip: vrrp_instance VI_1: unicast_src_ip '1.2.3' is not an IP address",
                "keepalived.conf:6: error: unicast_peer: vrrp_instance VI_1: unicast_peer 'peer1' is not an IP address",
            ],
            Errors(Instance("unicast_src_ip 1.2.3\nunicast_peer {\npeer1\n}")));
    }

    [Theory]
    [InlineData("0", "0 outside 1-255")]
    [InlineData("256", "256 outside 1-255")]
    [InlineData("x1", "'x1' is not a whole number; use 1-255")]
    public void Rejects_VirtualRouterIdOutsideRange(string value, string message)
    {
        Assert.Equal(
            [
                $"keepalived.conf:2: error: virtual_router_id: vrrp_instance VI_1: virtual_router_id {message}",
                "keepalived.conf:1: error: virtual_router_id: vrrp_instance VI_1: no virtual_router_id; add 'virtual_router_id 1-255'",
            ],
            Errors($"vrrp_instance VI_1 {{\nvirtual_router_id {value}\ninterface eth0\n}}\n"));
    }

    [Theory]
    [InlineData("300", "keepalived.conf:4: error: priority: vrrp_instance VI_1: priority 300 outside 1-255")]
    [InlineData("0", "keepalived.conf:4: error: priority: vrrp_instance VI_1: priority 0 outside 1-255")]
    [InlineData("high", "keepalived.conf:4: error: priority: vrrp_instance VI_1: priority 'high' is not a whole number; use 1-255")]
    public void Rejects_PriorityOutsideRange(string value, string expected)
    {
        Assert.Equal([expected], Errors(Instance($"priority {value}")));
    }

    [Theory]
    [InlineData("2", "0", "0 must be greater than 0")]
    [InlineData("3", "-1", "-1 must be greater than 0")]
    [InlineData("2", "fast", "'fast' is not a number of seconds; use e.g. 1, or 0.1 with version 3")]
    [InlineData("2", "0.5", "0.5 is not a whole number of seconds 1-255 (VRRPv2); use 'version 3' for sub-second adverts")]
    [InlineData("2", "256", "256 is not a whole number of seconds 1-255 (VRRPv2); use 'version 3' for sub-second adverts")]
    [InlineData("3", "41", "41 outside 0.01-40.95 seconds (VRRPv3)")]
    [InlineData("3", "0.001", "0.001 outside 0.01-40.95 seconds (VRRPv3)")]
    [InlineData("3", "0.015", "0.015 is not a multiple of 0.01 seconds (VRRPv3)")]
    public void Rejects_BadAdvertInt(string version, string value, string message)
    {
        Assert.Equal(
            [$"keepalived.conf:4: error: advert_int: vrrp_instance VI_1: advert_int {message}"],
            Errors(Instance($"advert_int {value}\nversion {version}")));
    }

    [Fact]
    public void Rejects_Version2AdvertIntFromGlobalVersion()
    {
        Assert.Equal(
            ["keepalived.conf:7: error: advert_int: vrrp_instance VI_1: advert_int 0.1 is not a whole number of seconds 1-255 (VRRPv2); use 'version 3' for sub-second adverts"],
            Errors("global_defs {\nvrrp_version 2\n}\n" + Instance("advert_int 0.1")));
    }

    [Fact]
    public void Rejects_InstanceWithoutInterfaceOrVirtualRouterId()
    {
        Assert.Equal(
            [
                "keepalived.conf:2: error: interface: vrrp_instance VI_1: no interface; add 'interface IFNAME'",
                "keepalived.conf:2: error: virtual_router_id: vrrp_instance VI_1: no virtual_router_id; add 'virtual_router_id 1-255'",
            ],
            Errors("\nvrrp_instance VI_1 {\npriority 100\n}\n"));
    }

    [Fact]
    public void Rejects_DuplicateVirtualRouterIdOnSameInterfaceAndFamily()
    {
        Assert.Equal(
            ["keepalived.conf:11: error: virtual_router_id: vrrp_instance VI_2: virtual_router_id 51 on eth0 (IPv4) is already used by vrrp_instance VI_1 at keepalived.conf:3; pick another id"],
            Errors(Instance("") + Instance("", "VI_2")));
    }

    [Fact]
    public void Rejects_DuplicateInstanceName()
    {
        var errors = Errors(Instance("") + "vrrp_instance VI_1 {\ninterface eth1\nvirtual_router_id 2\n}\n");

        Assert.Equal(["keepalived.conf:9: error: vrrp_instance: vrrp_instance VI_1 is defined twice (first at keepalived.conf:1); rename one"], errors);
    }

    [Fact]
    public void Rejects_TrackScriptNamingUndefinedScript()
    {
        Assert.Equal(
            ["keepalived.conf:5: error: track_script: vrrp_instance VI_1: track_script chk_missing is not defined; add a vrrp_script chk_missing block or fix the name"],
            Errors(Instance("track_script {\nchk_missing weight 2\n}")));
    }

    [Fact]
    public void Rejects_TrackWeightOutsideRange()
    {
        Assert.Equal(
            ["keepalived.conf:5: error: track_interface: vrrp_instance VI_1: track_interface eth1 weight '300' outside -253..253"],
            Errors(Instance("track_interface {\neth1 weight 300\n}")));
    }

    [Fact]
    public void Rejects_SyncGroupNamingUndefinedInstance()
    {
        Assert.Equal(
            ["keepalived.conf:12: error: group: vrrp_sync_group G: instance VI_9 is not defined; add a vrrp_instance VI_9 block or fix the name"],
            Errors(Instance("") + "vrrp_sync_group G {\ngroup {\nVI_1\nVI_9\n}\n}\n"));
    }

    [Fact]
    public void Rejects_MixedFamiliesInVirtualAddresses()
    {
        Assert.Equal(
            ["keepalived.conf:6: error: virtual_ipaddress: vrrp_instance VI_1: virtual_ipaddress mixes IPv4 (10.0.0.1/32) and IPv6 (2001:db8::1/128); use one family per instance (another instance for the other family)"],
            Errors("vrrp_instance VI_1 {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n10.0.0.1\n2001:db8::1\n}\n}\n"));
    }

    [Fact]
    public void Rejects_UnicastPeerOfOtherFamily()
    {
        Assert.Equal(
            [
                "keepalived.conf:5: error: unicast_peer: vrrp_instance VI_1: unicast_peer 2001:db8::2 is IPv6 but the virtual addresses are IPv4; use peers of the same family",
                "keepalived.conf:4: error: unicast_src_ip: vrrp_instance VI_1: unicast_src_ip 2001:db8::1 is IPv6 but the virtual addresses are IPv4; use a source of the same family",
            ],
            Errors(Instance("unicast_src_ip 2001:db8::1\nunicast_peer { 2001:db8::2 }")));
    }

    [Theory]
    [InlineData("priority", "priority: vrrp_instance VI_1: priority needs a value; write 'priority 1-255'")]
    [InlineData("state", "state: vrrp_instance VI_1: state needs a value; write 'state MASTER|BACKUP'")]
    [InlineData("advert_int", "advert_int: vrrp_instance VI_1: advert_int needs a value; write 'advert_int SECONDS'")]
    [InlineData("notify_master", "notify_master: vrrp_instance VI_1: notify_master needs a value; write 'notify_master \"/path/to/script args\"'")]
    [InlineData("unicast_src_ip", "unicast_src_ip: vrrp_instance VI_1: unicast_src_ip needs a value; write 'unicast_src_ip ADDRESS'")]
    [InlineData("garp_master_repeat", "garp_master_repeat: vrrp_instance VI_1: garp_master_repeat needs a value; write 'garp_master_repeat 1-10000'")]
    [InlineData("unicast_peer", "unicast_peer: vrrp_instance VI_1: unicast_peer needs a block; write 'unicast_peer { ... }'")]
    public void Rejects_KeywordWithoutValue(string keyword, string expected)
    {
        Assert.Equal([$"keepalived.conf:4: error: {expected}"], Errors(Instance(keyword)));
    }

    [Fact]
    public void Rejects_BadValuesInGlobalDefsAndScripts()
    {
        Assert.Equal(
            [
                "keepalived.conf:11: error: vrrp_script: vrrp_script needs a name; write 'vrrp_script NAME { ... }'",
                "keepalived.conf:2: error: vrrp_version: global_defs: vrrp_version 4 outside 2-3",
                "keepalived.conf:3: error: router_id: global_defs: router_id needs a value; write 'router_id NAME'",
                "keepalived.conf:5: error: script: vrrp_script chk: no script; add 'script \"/path/to/check\"'",
                "keepalived.conf:6: error: interval: vrrp_script chk: interval 'soon' is not a number of seconds; use e.g. 1 or 0.5",
                "keepalived.conf:7: error: weight: vrrp_script chk: weight option 'backwards' is not 'reverse'; write 'weight N [reverse]'",
                "keepalived.conf:9: error: script: vrrp_script empty: no script; add 'script \"/path/to/check\"'",
            ],
            Errors("global_defs {\nvrrp_version 4\nrouter_id\n}\nvrrp_script chk {\ninterval soon\nweight 5 backwards\n}\nvrrp_script empty {\n}\nvrrp_script {\n}\n").Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public void Rejects_BadStateAndAuthentication()
    {
        Assert.Equal(
            [
                "keepalived.conf:4: error: state: vrrp_instance VI_1: state 'master' is not MASTER or BACKUP",
                "keepalived.conf:6: error: auth_type: vrrp_instance VI_1: auth_type 'MD5' is not PASS or AH",
                "keepalived.conf:8: error: authentication: vrrp_instance VI_1: authentication has no auth_pass; add 'auth_pass SECRET' (at most 8 characters)",
            ],
            Errors(Instance("state master\nauthentication {\nauth_type MD5\n}\nauthentication {\nauth_type PASS\n}")));
    }

    [Fact]
    public void Rejects_AllErrorsCollected_NotOnlyTheFirst()
    {
        var errors = Errors(Instance("priority 300\nvirtual_router_id 0\nadvert_int 0"));

        Assert.Equal(3, errors.Length);
    }
}
