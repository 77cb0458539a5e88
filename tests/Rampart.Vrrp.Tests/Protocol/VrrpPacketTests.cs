using System.Net;
using Rampart.Vrrp.Protocol;

namespace Rampart.Vrrp.Tests.Protocol;

/// <summary>Golden bytes: frames captured from keepalived 2.2.7 (shared/reference/keepalived/wire-samples.txt).</summary>
public class VrrpPacketTests
{
    private static readonly IPAddress R1 = IPAddress.Parse("10.99.0.11");
    private static readonly IPAddress R2 = IPAddress.Parse("10.99.0.12");
    private static readonly IPAddress Vip = IPAddress.Parse("10.99.0.100");

    // VRRP payloads (after the 14-byte Ethernet and 20-byte IPv4 headers) of samples 1-6.
    private static readonly byte[] V2MasterR1 = Convert.FromHexString("213396010001" + "3e03" + "0a630064" + "0000000000000000");
    private static readonly byte[] V2MasterR2 = Convert.FromHexString("213364010001" + "7003" + "0a630064" + "0000000000000000");
    private static readonly byte[] V2Leaving = Convert.FromHexString("213300010001" + "d403" + "0a630064" + "0000000000000000");
    private static readonly byte[] V3MasterR1 = Convert.FromHexString("31339601000a" + "42fd" + "0a630064");
    private static readonly byte[] V3MasterR2 = Convert.FromHexString("31336401000a" + "74fc" + "0a630064");
    private static readonly byte[] V3Leaving = Convert.FromHexString("31330001000a" + "d8fd" + "0a630064");

    public static TheoryData<byte[], IPAddress, int, byte, int> Samples => new()
    {
        { V2MasterR1, R1, 2, 150, 100 },
        { V2MasterR2, R2, 2, 100, 100 },
        { V2Leaving, R1, 2, 0, 100 },
        { V3MasterR1, R1, 3, 150, 10 },
        { V3MasterR2, R2, 3, 100, 10 },
        { V3Leaving, R1, 3, 0, 10 },
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void TryParse_KeepalivedCapture_ReadsEveryField(byte[] wire, IPAddress source, int version, byte priority, int intervalCs)
    {
        var packet = VrrpPacket.TryParse(wire, source, VrrpPacket.MulticastV4, out var reason);

        Assert.NotNull(packet);
        Assert.Equal(version, packet.Version);
        Assert.Equal(51, packet.VirtualRouterId);
        Assert.Equal(priority, packet.Priority);
        Assert.Equal(intervalCs, packet.AdvertIntervalCentiseconds);
        Assert.Equal([Vip], packet.Addresses);
        Assert.Null(packet.AuthPass);
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void Write_SameFields_ProducesKeepalivedBytes(byte[] wire, IPAddress source, int version, byte priority, int intervalCs)
    {
        var packet = new VrrpPacket(version, 51, priority, intervalCs, [Vip]);
        var buffer = new byte[64];

        int length = packet.Write(buffer, source, VrrpPacket.MulticastV4);

        Assert.Equal(Convert.ToHexString(wire), Convert.ToHexString(buffer, 0, length));
    }

    [Fact]
    public void TryParse_V3WithWrongPseudoHeaderSource_IsBadChecksum()
    {
        // v3 checksums cover the IP source: the same bytes "from" r2 do not verify.
        Assert.Null(VrrpPacket.TryParse(V3MasterR1, R2, VrrpPacket.MulticastV4, out var reason));
        Assert.Equal(InvalidPacketReason.BadChecksum, reason);
    }

    [Fact]
    public void TryParse_FlippedBit_IsBadChecksum()
    {
        var wire = (byte[])V2MasterR1.Clone();
        wire[2] ^= 0x01;
        Assert.Null(VrrpPacket.TryParse(wire, R1, VrrpPacket.MulticastV4, out var reason));
        Assert.Equal(InvalidPacketReason.BadChecksum, reason);
    }

    [Theory]
    [InlineData("21", InvalidPacketReason.TooShort)]
    [InlineData("413396010001 3e03 0a630064", InvalidPacketReason.BadVersion)]
    [InlineData("223396010001 3e03 0a630064 0000000000000000", InvalidPacketReason.BadType)]
    [InlineData("213396020001 3e03 0a630064 0000000000000000", InvalidPacketReason.BadLength)]
    public void TryParse_Malformed_GivesReason(string hex, InvalidPacketReason expected)
    {
        var wire = Convert.FromHexString(hex.Replace(" ", ""));
        Assert.Null(VrrpPacket.TryParse(wire, R1, VrrpPacket.MulticastV4, out var reason));
        Assert.Equal(expected, reason);
    }

    [Fact]
    public void RoundTrip_V2WithPassword_KeepsPassword()
    {
        var packet = new VrrpPacket(2, 7, 200, 300, [Vip, IPAddress.Parse("10.99.0.101")], "secret1");
        var buffer = new byte[64];
        int length = packet.Write(buffer, R1, VrrpPacket.MulticastV4);

        Assert.Equal(8 + 8 + 8, length);
        Assert.Equal(VrrpPacket.AuthTypePass, buffer[4]);
        var parsed = VrrpPacket.TryParse(buffer.AsSpan(0, length), R1, VrrpPacket.MulticastV4, out _);
        Assert.NotNull(parsed);
        Assert.Equal("secret1", parsed.AuthPass);
        Assert.Equal(packet.Addresses, parsed.Addresses);
        Assert.Equal(300, parsed.AdvertIntervalCentiseconds);
    }

    [Fact]
    public void RoundTrip_V3IPv6_ChecksumUsesIPv6PseudoHeader()
    {
        var source = IPAddress.Parse("fe80::99:11");
        var vip = IPAddress.Parse("fd00:99::100");
        var packet = new VrrpPacket(3, 51, 150, 10, [vip]);
        var buffer = new byte[64];
        int length = packet.Write(buffer, source, VrrpPacket.MulticastV6);

        Assert.Equal(8 + 16, length);
        var parsed = VrrpPacket.TryParse(buffer.AsSpan(0, length), source, VrrpPacket.MulticastV6, out _);
        Assert.NotNull(parsed);
        Assert.Equal([vip], parsed.Addresses);
        Assert.Null(VrrpPacket.TryParse(buffer.AsSpan(0, length), IPAddress.Parse("fe80::99:12"), VrrpPacket.MulticastV6, out var reason));
        Assert.Equal(InvalidPacketReason.BadChecksum, reason);
    }

    [Fact]
    public void TryParse_RandomBytes_NeverThrows()
    {
        var random = new Random(1234);
        var buffer = new byte[80];
        for (int i = 0; i < 20000; i++)
        {
            int length = random.Next(buffer.Length);
            random.NextBytes(buffer);
            buffer[0] = (byte)(random.Next(2) == 0 ? 0x21 : 0x31);
            _ = VrrpPacket.TryParse(buffer.AsSpan(0, length), R1, VrrpPacket.MulticastV4, out _);
            _ = VrrpPacket.TryParse(buffer.AsSpan(0, length), IPAddress.IPv6Loopback, VrrpPacket.MulticastV6, out _);
        }
    }
}
