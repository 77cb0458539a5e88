using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Rampart.Linux;

/// <summary>An interface as RTM_NEWLINK describes it.</summary>
internal sealed record LinkRecord(int Index, string Name, uint Flags, byte[] Mac, byte OperState)
{
    public const uint IFF_UP = 0x1, IFF_RUNNING = 0x40, IFF_LOWER_UP = 0x10000;
    /// <summary>Administratively up, operationally up (or unknown, e.g. dummy) and carrier present.</summary>
    public bool IsUp => (Flags & IFF_UP) != 0 && (Flags & IFF_RUNNING) != 0 && (Flags & IFF_LOWER_UP) != 0;
}

/// <summary>An address as RTM_NEWADDR describes it.</summary>
internal sealed record AddressRecord(int Index, IPAddress Address, int PrefixLength, uint Flags, byte Scope, string? Label)
{
    public const uint IFA_F_SECONDARY = 0x01, IFA_F_NODAD = 0x02, IFA_F_TENTATIVE = 0x40;
}

/// <summary>
/// A NETLINK_ROUTE request/response connection. The socket belongs to the network namespace of the thread
/// that created it, whatever thread uses it later. Thread-safe (one request at a time).
/// </summary>
internal sealed class NetlinkRoute : IDisposable
{
    public const ushort RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18, RTM_NEWADDR = 20, RTM_DELADDR = 21, RTM_GETADDR = 22;
    public const ushort NLM_F_REQUEST = 1, NLM_F_MULTI = 2, NLM_F_ACK = 4, NLM_F_DUMP = 0x300, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400;
    public const ushort IFLA_ADDRESS = 1, IFLA_IFNAME = 3, IFLA_OPERSTATE = 16;
    public const ushort IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_LABEL = 3, IFA_FLAGS = 8;
    public const int ENODEV = 19, EEXIST = 17, EADDRNOTAVAIL = 99;

    private readonly Socket _socket;
    private readonly Lock _lock = new();
    private readonly byte[] _buffer = new byte[64 * 1024];
    private uint _sequence = (uint)Environment.TickCount;

    public NetlinkRoute() : this(0) { }

    /// <summary>Opens the socket; <paramref name="groups"/> = multicast groups to join (RTMGRP_LINK = 1), 0 for none.</summary>
    public NetlinkRoute(uint groups)
    {
        _socket = Open(groups);
        if (groups == 0) _socket.ReceiveTimeout = 5000;
    }

    public Socket Socket => _socket;

    public static unsafe Socket Open(uint groups)
    {
        int fd = Native.CreateSocket(Native.AF_NETLINK, Native.SOCK_RAW, Native.NETLINK_ROUTE);
        // struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad; u32 nl_pid; u32 nl_groups; }
        byte* address = stackalloc byte[12];
        new Span<byte>(address, 12).Clear();
        *(ushort*)address = Native.AF_NETLINK;
        *(uint*)(address + 8) = groups;
        if (Native.Bind(fd, address, 12) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            Native.Close(fd);
            throw new SocketException(errno, "netlink bind: " + Native.ErrorText(errno));
        }
        var socket = new Socket(new SafeSocketHandle(fd, ownsHandle: true));
        try
        {
            socket.ReceiveBufferSize = 1 << 20;
        }
        catch (SocketException)
        {
            // Best effort: the default buffer works for the request/response use.
        }
        return socket;
    }

    /// <summary>Sends a request and collects the replies up to the ACK (NLMSG_ERROR 0) or NLMSG_DONE. Returns the errno (0 = success).</summary>
    public int Request(NetlinkMessageBuilder request, List<NetlinkMessage>? replies)
    {
        lock (_lock)
        {
            uint sequence = ++_sequence;
            _socket.Send(request.Build(sequence));
            while (true)
            {
                int received = _socket.Receive(_buffer);
                foreach (var message in NetlinkMessage.Parse(_buffer.AsMemory(0, received)))
                {
                    if (message.Sequence != sequence) continue; // a stale reply to an earlier, abandoned request
                    switch (message.Type)
                    {
                        case NetlinkMessage.Error:
                            return message.ErrorNumber;
                        case NetlinkMessage.Done:
                            return 0;
                        default:
                            replies?.Add(new NetlinkMessage(message.Type, message.Flags, message.Sequence, message.Body.ToArray()));
                            if ((message.Flags & NLM_F_MULTI) == 0 && (request.Flags & NLM_F_ACK) == 0) return 0;
                            break;
                    }
                }
            }
        }
    }

    public static byte[] IfInfoMessage(int index)
    {
        // struct ifinfomsg { u8 family; u8 pad; u16 type; int index; u32 flags; u32 change; }
        var header = new byte[16];
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), index);
        return header;
    }

    public static byte[] IfAddrMessage(AddressFamily family, int prefixLength, byte flags, byte scope, int index)
    {
        // struct ifaddrmsg { u8 family; u8 prefixlen; u8 flags; u8 scope; u32 index; }
        var header = new byte[8];
        header[0] = (byte)(family == AddressFamily.InterNetworkV6 ? Native.AF_INET6 : Native.AF_INET);
        header[1] = (byte)prefixLength;
        header[2] = flags;
        header[3] = scope;
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), index);
        return header;
    }

    /// <summary>The link named <paramref name="name"/>, or null when there is none.</summary>
    public LinkRecord? GetLink(string name)
    {
        var request = new NetlinkMessageBuilder(RTM_GETLINK, NLM_F_REQUEST).Header(IfInfoMessage(0)).Attribute(IFLA_IFNAME, name);
        var replies = new List<NetlinkMessage>();
        int errno = Request(request, replies);
        if (errno == ENODEV) return null;
        if (errno != 0) throw new NetlinkException("RTM_GETLINK " + name, errno);
        return replies.Where(r => r.Type == RTM_NEWLINK).Select(ParseLink).FirstOrDefault();
    }

    public static LinkRecord ParseLink(NetlinkMessage message)
    {
        var body = message.Body.Span;
        int index = BinaryPrimitives.ReadInt32LittleEndian(body[4..]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(body[8..]);
        var attributes = message.Attributes(16);
        string name = attributes.TryGetValue(IFLA_IFNAME, out var n) ? NetlinkMessage.AttributeString(n) : "";
        byte[] mac = attributes.TryGetValue(IFLA_ADDRESS, out var a) ? a.ToArray() : [];
        byte operState = attributes.TryGetValue(IFLA_OPERSTATE, out var o) && o.Length > 0 ? o.Span[0] : (byte)0;
        return new LinkRecord(index, name, flags, mac, operState);
    }

    /// <summary>All addresses of one family (in kernel order: primaries before their secondaries).</summary>
    public List<AddressRecord> GetAddresses(AddressFamily family)
    {
        var request = new NetlinkMessageBuilder(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP).Header(IfAddrMessage(family, 0, 0, 0, 0));
        var replies = new List<NetlinkMessage>();
        int errno = Request(request, replies);
        if (errno != 0) throw new NetlinkException("RTM_GETADDR", errno);
        var result = new List<AddressRecord>();
        foreach (var reply in replies)
        {
            if (reply.Type != RTM_NEWADDR) continue;
            var record = ParseAddress(reply);
            if (record is not null) result.Add(record);
        }
        return result;
    }

    private static AddressRecord? ParseAddress(NetlinkMessage message)
    {
        var body = message.Body.Span;
        int family = body[0];
        int prefix = body[1];
        uint flags = body[2];
        byte scope = body[3];
        int index = BinaryPrimitives.ReadInt32LittleEndian(body[4..]);
        var attributes = message.Attributes(8);
        if (!attributes.TryGetValue(IFA_LOCAL, out var raw) && !attributes.TryGetValue(IFA_ADDRESS, out raw)) return null;
        if (raw.Length != (family == Native.AF_INET6 ? 16 : 4)) return null;
        var address = new IPAddress(raw.Span);
        if (address.IsIPv6LinkLocal) address.ScopeId = index;
        if (attributes.TryGetValue(IFA_FLAGS, out var f) && f.Length >= 4) flags = BinaryPrimitives.ReadUInt32LittleEndian(f.Span);
        string? label = attributes.TryGetValue(IFA_LABEL, out var l) ? NetlinkMessage.AttributeString(l) : null;
        return new AddressRecord(index, address, prefix, flags, scope, label);
    }

    public void Dispose() => _socket.Dispose();
}

/// <summary>A netlink request the kernel refused; the message carries the errno text.</summary>
public sealed class NetlinkException(string operation, int errno)
    : Exception($"netlink {operation}: {Native.ErrorText(errno)}")
{
    public int ErrorNumber { get; } = errno;
}
