using System.Net;

namespace Rampart.Linux.Tests;

public class FrameTests
{
    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", ""));

    [Fact]
    public void GratuitousArp_matches_keepalived_sample_7()
    {
        // wire-samples.txt sample 7: r1 02:99:00:00:00:11 announcing VIP 10.99.0.100
        byte[] golden = Hex("ffff ffff ffff 0299 0000 0011 0806 0001 0800 0604 0001 0299 0000 0011 0a63 0064 ffff ffff ffff 0a63 0064");
        Assert.Equal(golden, ArpFrame.BuildGratuitous(Hex("029900000011"), IPAddress.Parse("10.99.0.100")));
    }

    [Fact]
    public void GratuitousArp_matches_keepalived_sample_8()
    {
        byte[] golden = Hex("ffff ffff ffff 0299 0000 0012 0806 0001 0800 0604 0001 0299 0000 0012 0a63 0064 ffff ffff ffff 0a63 0064");
        Assert.Equal(golden, ArpFrame.BuildGratuitous(Hex("029900000012"), IPAddress.Parse("10.99.0.100")));
    }

    [Fact]
    public void GratuitousArp_rejects_bad_input()
    {
        Assert.Throws<ArgumentException>(() => ArpFrame.BuildGratuitous(new byte[5], IPAddress.Parse("10.0.0.1")));
        Assert.Throws<ArgumentException>(() => ArpFrame.BuildGratuitous(new byte[6], IPAddress.Parse("fd00::1")));
    }

    [Fact]
    public void NeighborAdvertisement_layout()
    {
        byte[] na = NeighborAdvertisement.BuildUnsolicited(Hex("029900000011"), IPAddress.Parse("fd00::100"));
        Assert.Equal(Hex("88 00 0000 20000000 fd000000000000000000000000000100 02 01 029900000011"), na);
        byte[] router = NeighborAdvertisement.BuildUnsolicited(Hex("029900000011"), IPAddress.Parse("fd00::100"), router: true);
        Assert.Equal(0xA0, router[4]);
    }

    [Fact]
    public void ParseIPv4_splits_header_and_reads_ttl()
    {
        // sample 1: VRRPv2 advert 10.99.0.11 -> 224.0.0.18, TTL 255 (IP header + 20-byte VRRP)
        byte[] packet = Hex("45c0 0028 0000 0000 ff70 0000 0a63 000b e000 0012" + "2133 9601 0001 0000 0a63 0064 0000 0000 0000 0000");
        var d = VrrpSocket.ParseIPv4(packet, 7)!.Value;
        Assert.Equal(IPAddress.Parse("10.99.0.11"), d.Source);
        Assert.Equal(IPAddress.Parse("224.0.0.18"), d.Destination);
        Assert.Equal(255, d.HopLimit);
        Assert.Equal(7, d.InterfaceIndex);
        Assert.Equal(packet[20..], d.Payload.ToArray());
    }

    [Theory]
    [InlineData("")]                                           // empty
    [InlineData("4500001c")]                                   // shorter than a header
    [InlineData("6500 0018 0000 0000 ff70 0000 0a63 000b e000 0012 0000 0000")] // version 6
    [InlineData("4400 0018 0000 0000 ff70 0000 0a63 000b e000 0012 0000 0000")] // IHL 4
    [InlineData("4f00 0018 0000 0000 ff70 0000 0a63 000b e000 0012 0000 0000")] // IHL beyond the data
    [InlineData("4500 00ff 0000 0000 ff70 0000 0a63 000b e000 0012 0000 0000")] // total length beyond the data
    [InlineData("4500 0010 0000 0000 ff70 0000 0a63 000b e000 0012 0000 0000")] // total length below the header
    public void ParseIPv4_rejects_malformed(string hex)
    {
        Assert.Null(VrrpSocket.ParseIPv4(Hex(hex), 1));
    }

    [Theory]
    [InlineData(null, 0)]
    [InlineData("global", 0)]
    [InlineData("site", 200)]
    [InlineData("link", 253)]
    [InlineData("host", 254)]
    [InlineData("nowhere", 255)]
    [InlineData("42", 42)]
    public void Scope_names_and_numbers(string? scope, int expected)
    {
        Assert.Equal(expected, IpAddressManager.ParseScope(scope));
    }

    [Fact]
    public void Unknown_scope_throws()
    {
        Assert.Throws<ArgumentException>(() => IpAddressManager.ParseScope("galaxy"));
    }
}
