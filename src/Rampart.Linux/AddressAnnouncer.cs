using System.Net;
using System.Net.Sockets;

namespace Rampart.Linux;

/// <summary>
/// Sends one gratuitous ARP (IPv4, AF_PACKET) or one unsolicited neighbour advertisement to ff02::1 (IPv6,
/// raw ICMPv6, hop limit 255, source = the interface's link-local address) per call. Repeats are the caller's.
/// Sockets are opened per call, in the network namespace of the calling thread.
/// </summary>
public sealed class AddressAnnouncer : IAddressAnnouncer
{
    private static readonly IPAddress AllNodes = IPAddress.Parse("ff02::1");

    /// <summary>Sets the router flag in neighbour advertisements.</summary>
    public bool IPv6RouterFlag { get; init; }

    public void Announce(string device, IPAddress address)
    {
        var info = Interfaces.GetRequired(device);
        if (address.AddressFamily == AddressFamily.InterNetwork) SendArp(info, address);
        else SendNeighborAdvertisement(info, address, IPv6RouterFlag);
    }

    private static void SendArp(InterfaceInfo info, IPAddress address)
    {
        if (info.MacAddress.Length != 6) throw new InvalidOperationException($"{info.Name} has no Ethernet address");
        byte[] frame = ArpFrame.BuildGratuitous(info.MacAddress, address);
        using var socket = new Socket(AddressFamily.Packet, SocketType.Raw, ProtocolType.Unspecified);
        socket.SendTo(frame, SocketFlags.None, LinkLayerAddress(info.Index, 0x0806, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]));
    }

    /// <summary>struct sockaddr_ll { u16 family; be16 protocol; int ifindex; u16 hatype; u8 pkttype; u8 halen; u8 addr[8]; }.</summary>
    internal static SocketAddress LinkLayerAddress(int ifIndex, ushort etherType, ReadOnlySpan<byte> hardwareAddress)
    {
        var address = new SocketAddress(AddressFamily.Packet, 20);
        var buffer = address.Buffer.Span;
        buffer[2] = (byte)(etherType >> 8);
        buffer[3] = (byte)etherType;
        BitConverter.TryWriteBytes(buffer[4..8], ifIndex);
        buffer[8] = 1; buffer[9] = 0;          // hatype ARPHRD_ETHER (host order)
        buffer[10] = 0;                        // pkttype (ignored on send)
        buffer[11] = (byte)hardwareAddress.Length;
        hardwareAddress.CopyTo(buffer[12..]);
        return address;
    }

    private static void SendNeighborAdvertisement(InterfaceInfo info, IPAddress address, bool router)
    {
        if (info.MacAddress.Length != 6) throw new InvalidOperationException($"{info.Name} has no Ethernet address");
        var source = info.LinkLocalIPv6 ?? throw new InvalidOperationException($"{info.Name} has no usable link-local IPv6 address");
        byte[] message = NeighborAdvertisement.BuildUnsolicited(info.MacAddress, address, router);
        using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Raw, ProtocolType.IcmpV6);
        SocketOptions.DropAllReceived(socket);
        SocketOptions.BindToDevice(socket, info.Name);
        SocketOptions.SetInt(socket, Native.IPPROTO_IPV6, Native.IPV6_MULTICAST_HOPS, 255);
        SocketOptions.SetInt(socket, Native.IPPROTO_IPV6, Native.IPV6_UNICAST_HOPS, 255);
        SocketOptions.SetInt(socket, Native.IPPROTO_IPV6, Native.IPV6_MULTICAST_IF, info.Index);
        socket.Bind(new IPEndPoint(source, 0));
        var destination = new IPAddress(AllNodes.GetAddressBytes(), info.Index);
        socket.SendTo(message, new IPEndPoint(destination, 0));
    }
}
