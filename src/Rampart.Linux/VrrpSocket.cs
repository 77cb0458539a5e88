using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Rampart.Linux;

/// <summary>
/// Raw IP protocol-112 socket pair on one interface (as keepalived does it): a send socket bound to the
/// device and to the source address, TTL / hop limit 255, multicast loop off, receiving nothing (BPF "ret 0");
/// and a receive socket bound only to the device (a raw socket bound to an address would drop multicast),
/// joined to 224.0.0.18 / ff02::12 when asked. Created in the network namespace of the calling thread.
/// Disposing ends a pending <see cref="Receive"/> with <see cref="ObjectDisposedException"/>;
/// cancelling the token ends it with <see cref="OperationCanceledException"/>.
/// </summary>
public sealed class VrrpSocket : IVrrpSocket
{
    public const int ProtocolNumber = 112;
    public static readonly IPAddress MulticastGroupV4 = IPAddress.Parse("224.0.0.18");
    public static readonly IPAddress MulticastGroupV6 = IPAddress.Parse("ff02::12");
    private const int IP_MULTICAST_ALL = 49, IPV6_MULTICAST_ALL = 29;

    private readonly Socket _send;
    private readonly Socket _receive;
    private readonly byte[] _buffer = new byte[65536];
    private readonly byte[] _control = new byte[256];
    private readonly byte[] _peek = new byte[1];
    private volatile bool _disposed;

    public AddressFamily Family { get; }
    public string Device { get; }
    public int InterfaceIndex { get; }
    /// <summary>The source address of sent packets (needed for the VRRPv3 pseudo-header checksum).</summary>
    public IPAddress LocalAddress { get; }

    private VrrpSocket(AddressFamily family, string device, int index, IPAddress local, Socket send, Socket receive)
    {
        Family = family;
        Device = device;
        InterfaceIndex = index;
        LocalAddress = local;
        _send = send;
        _receive = receive;
    }

    /// <summary>
    /// Opens the sockets on <paramref name="device"/>. Source = <paramref name="sourceAddress"/> (unicast_src_ip)
    /// or the interface's primary IPv4 / link-local IPv6 address.
    /// </summary>
    public static VrrpSocket Open(AddressFamily family, string device, IPAddress? sourceAddress, bool joinMulticast)
    {
        if (family is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
            throw new ArgumentOutOfRangeException(nameof(family), family, "IPv4 or IPv6 only");
        var info = Interfaces.GetRequired(device);
        bool v6 = family == AddressFamily.InterNetworkV6;
        IPAddress source = sourceAddress
            ?? (v6 ? info.LinkLocalIPv6 : info.PrimaryIPv4)
            ?? throw new InvalidOperationException($"{device} has no {(v6 ? "link-local IPv6" : "IPv4")} address to send from");
        if (source.AddressFamily != family) throw new ArgumentException($"source {source} is not {family}", nameof(sourceAddress));
        if (v6 && source.IsIPv6LinkLocal && source.ScopeId == 0) source = new IPAddress(source.GetAddressBytes(), info.Index);

        Socket? send = null, receive = null;
        try
        {
            send = CreateRaw(family);
            SocketOptions.DropAllReceived(send);
            SocketOptions.BindToDevice(send, device);
            if (v6)
            {
                SocketOptions.SetInt(send, Native.IPPROTO_IPV6, Native.IPV6_MULTICAST_HOPS, 255);
                SocketOptions.SetInt(send, Native.IPPROTO_IPV6, Native.IPV6_UNICAST_HOPS, 255);
                SocketOptions.SetInt(send, Native.IPPROTO_IPV6, Native.IPV6_MULTICAST_IF, info.Index);
                SocketOptions.SetInt(send, Native.IPPROTO_IPV6, Native.IPV6_MULTICAST_LOOP, 0);
            }
            else
            {
                SocketOptions.SetInt(send, Native.IPPROTO_IP, Native.IP_MULTICAST_TTL, 255);
                SocketOptions.SetInt(send, Native.IPPROTO_IP, Native.IP_TTL, 255);
                send.SetRawSocketOption(Native.IPPROTO_IP, Native.IP_MULTICAST_IF, SocketOptions.IpMreqn(IPAddress.Any, info.Index));
                SocketOptions.SetInt(send, Native.IPPROTO_IP, Native.IP_MULTICAST_LOOP, 0);
            }
            send.Bind(new IPEndPoint(source, 0));

            receive = CreateRaw(family);
            SocketOptions.BindToDevice(receive, device);
            if (v6)
            {
                SocketOptions.SetInt(receive, Native.IPPROTO_IPV6, Native.IPV6_RECVHOPLIMIT, 1);
                SocketOptions.SetInt(receive, Native.IPPROTO_IPV6, Native.IPV6_RECVPKTINFO, 1);
                SocketOptions.SetInt(receive, Native.IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0);
                if (joinMulticast)
                    receive.SetRawSocketOption(Native.IPPROTO_IPV6, Native.IPV6_ADD_MEMBERSHIP, SocketOptions.Ipv6Mreq(MulticastGroupV6, info.Index));
            }
            else
            {
                SocketOptions.SetInt(receive, Native.IPPROTO_IP, IP_MULTICAST_ALL, 0);
                if (joinMulticast)
                    receive.SetRawSocketOption(Native.IPPROTO_IP, Native.IP_ADD_MEMBERSHIP, SocketOptions.IpMreqn(MulticastGroupV4, info.Index));
            }
            return new VrrpSocket(family, device, info.Index, source, send, receive);
        }
        catch
        {
            send?.Dispose();
            receive?.Dispose();
            throw;
        }
    }

    private static Socket CreateRaw(AddressFamily family)
    {
        int fd = Native.CreateSocket(family == AddressFamily.InterNetworkV6 ? Native.AF_INET6 : Native.AF_INET, Native.SOCK_RAW, ProtocolNumber);
        return new Socket(new SafeSocketHandle(fd, ownsHandle: true));
    }

    public void Send(ReadOnlySpan<byte> payload, IPAddress destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (destination.AddressFamily != Family) throw new ArgumentException($"{destination} is not {Family}", nameof(destination));
        if (Family == AddressFamily.InterNetworkV6 && destination.ScopeId == 0
            && (destination.IsIPv6LinkLocal || destination.IsIPv6Multicast))
            destination = new IPAddress(destination.GetAddressBytes(), InterfaceIndex);
        _send.SendTo(payload, SocketFlags.None, new IPEndPoint(destination, 0));
    }

    /// <summary>
    /// Blocks until a well-formed datagram arrives (malformed IP framing is skipped). Meant for a dedicated thread:
    /// a blocking receive costs nothing while idle, unlike an async one that wakes the thread pool per packet.
    /// Dispose ends it with <see cref="ObjectDisposedException"/>.
    /// </summary>
    public ReceivedDatagram Receive()
    {
        while (true)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            try
            {
                ReceivedDatagram? datagram = Family == AddressFamily.InterNetwork
                    ? ParseIPv4(_buffer.AsMemory(0, _receive.Receive(_buffer)), InterfaceIndex)
                    : ReceiveIPv6();
                if (datagram is { } d) return d;
            }
            catch (Exception e) when (_disposed && e is SocketException or ObjectDisposedException)
            {
                throw new ObjectDisposedException(nameof(VrrpSocket));
            }
        }
    }

    /// <summary>Validates an IPv4 packet (version 4, IHL ≥ 5, lengths consistent) and splits it; null if malformed.</summary>
    public static ReceivedDatagram? ParseIPv4(ReadOnlyMemory<byte> packet, int interfaceIndex)
    {
        var p = packet.Span;
        if (p.Length < 20 || p[0] >> 4 != 4) return null;
        int headerLength = (p[0] & 0x0F) * 4;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(p[2..]);
        if (headerLength < 20 || headerLength > p.Length || totalLength < headerLength || totalLength > p.Length) return null;
        return new ReceivedDatagram(packet[headerLength..totalLength].ToArray(), new IPAddress(p[12..16]), new IPAddress(p[16..20]), p[8], interfaceIndex);
    }

    private ReceivedDatagram? ReceiveIPv6()
    {
        // Wait for a datagram without consuming it (1-byte peek), then read it with its ancillary data via recvmsg.
        _receive.Receive(_peek, SocketFlags.Peek);
        return ReceiveMessageIPv6();
    }

    private unsafe ReceivedDatagram? ReceiveMessageIPv6()
    {
        bool added = false;
        var handle = _receive.SafeHandle;
        try
        {
            handle.DangerousAddRef(ref added);
            byte* name = stackalloc byte[28];
            fixed (byte* data = _buffer)
            fixed (byte* control = _control)
            {
                var iov = new Native.IoVec { Base = data, Length = (nuint)_buffer.Length };
                var msg = new Native.MsgHdr
                {
                    Name = name, NameLen = 28, Iov = &iov, IovLen = 1,
                    Control = control, ControlLen = (nuint)_control.Length,
                };
                nint n = Native.RecvMsg(handle.DangerousGetHandle(), &msg, Native.MSG_DONTWAIT);
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno is Native.EAGAIN or Native.EINTR) return null;
                    throw new SocketException(errno, "recvmsg: " + Native.ErrorText(errno));
                }
                if ((msg.Flags & Native.MSG_TRUNC) != 0) return null;
                var source = new IPAddress(new ReadOnlySpan<byte>(name + 8, 16));
                IPAddress? destination = null;
                int hopLimit = -1, index = InterfaceIndex;
                nuint offset = 0;
                while (offset + 16 <= msg.ControlLen)
                {
                    byte* cmsg = control + offset;
                    nuint length = *(nuint*)cmsg;
                    int level = *(int*)(cmsg + 8), type = *(int*)(cmsg + 12);
                    if (length < 16 || offset + length > msg.ControlLen) break;
                    if (level == Native.IPPROTO_IPV6 && type == Native.IPV6_HOPLIMIT && length >= 20) hopLimit = *(int*)(cmsg + 16);
                    if (level == Native.IPPROTO_IPV6 && type == Native.IPV6_PKTINFO && length >= 36)
                    {
                        destination = new IPAddress(new ReadOnlySpan<byte>(cmsg + 16, 16));
                        index = *(int*)(cmsg + 32);
                    }
                    offset += (length + 7) & ~(nuint)7;
                }
                if (destination is null || hopLimit < 0) return null;
                if (source.IsIPv6LinkLocal) source.ScopeId = index;
                return new ReceivedDatagram(_buffer.AsMemory(0, (int)n).ToArray(), source, destination, hopLimit, index);
            }
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _receive.Dispose();
        _send.Dispose();
    }
}
