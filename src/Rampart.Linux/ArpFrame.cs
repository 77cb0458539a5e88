using System.Net;
using System.Net.Sockets;

namespace Rampart.Linux;

/// <summary>Ethernet + ARP frames, built as pure functions.</summary>
public static class ArpFrame
{
    public const int Length = 42;

    /// <summary>
    /// Gratuitous ARP request as keepalived sends it: eth dst broadcast, eth src = mac, type 0x0806,
    /// op 1 (request), sha = mac, spa = ip, tha = ff:ff:ff:ff:ff:ff, tpa = ip.
    /// </summary>
    public static byte[] BuildGratuitous(ReadOnlySpan<byte> mac, IPAddress ip)
    {
        if (mac.Length != 6) throw new ArgumentException("MAC must be 6 bytes", nameof(mac));
        if (ip.AddressFamily != AddressFamily.InterNetwork) throw new ArgumentException("ARP is for IPv4", nameof(ip));
        var frame = new byte[Length];
        var f = frame.AsSpan();
        f[..6].Fill(0xFF);
        mac.CopyTo(f[6..]);
        f[12] = 0x08; f[13] = 0x06;            // ethertype ARP
        f[14] = 0x00; f[15] = 0x01;            // htype Ethernet
        f[16] = 0x08; f[17] = 0x00;            // ptype IPv4
        f[18] = 6; f[19] = 4;                  // hlen, plen
        f[20] = 0x00; f[21] = 0x01;            // op request
        mac.CopyTo(f[22..]);                   // sha
        ip.TryWriteBytes(f[28..32], out _);    // spa
        f[32..38].Fill(0xFF);                  // tha
        ip.TryWriteBytes(f[38..42], out _);    // tpa
        return frame;
    }
}

/// <summary>ICMPv6 neighbour advertisement bodies, built as pure functions.</summary>
public static class NeighborAdvertisement
{
    public const int Length = 32;
    public const byte RouterFlag = 0x80, SolicitedFlag = 0x40, OverrideFlag = 0x20;

    /// <summary>
    /// Unsolicited NA (ICMPv6 type 136, code 0): override flag (plus router when asked), target = address,
    /// option 2 (target link-layer address) = mac. The checksum is left 0: the kernel fills it on raw ICMPv6 sockets.
    /// </summary>
    public static byte[] BuildUnsolicited(ReadOnlySpan<byte> mac, IPAddress target, bool router = false)
    {
        if (mac.Length != 6) throw new ArgumentException("MAC must be 6 bytes", nameof(mac));
        if (target.AddressFamily != AddressFamily.InterNetworkV6) throw new ArgumentException("NA is for IPv6", nameof(target));
        var message = new byte[Length];
        var m = message.AsSpan();
        m[0] = 136;
        m[4] = (byte)(OverrideFlag | (router ? RouterFlag : 0));
        target.TryWriteBytes(m[8..24], out _);
        m[24] = 2; m[25] = 1;                  // option: target link-layer address, 8 bytes
        mac.CopyTo(m[26..]);
        return message;
    }
}
