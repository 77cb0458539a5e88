using System.Runtime.InteropServices;

namespace Rampart.Linux;

/// <summary>The few libc calls .NET does not expose (raw sockets for arbitrary protocols, netlink bind, recvmsg).</summary>
internal static unsafe partial class Native
{
    public const int AF_INET = 2, AF_INET6 = 10, AF_NETLINK = 16, AF_PACKET = 17;
    public const int SOCK_RAW = 3, SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1, SO_RCVBUF = 8, SO_RCVTIMEO = 20, SO_BINDTODEVICE = 25, SO_ATTACH_FILTER = 26;
    public const int IPPROTO_IP = 0, IP_TTL = 2, IP_MULTICAST_IF = 32, IP_MULTICAST_TTL = 33, IP_MULTICAST_LOOP = 34, IP_ADD_MEMBERSHIP = 35;
    public const int IPPROTO_IPV6 = 41, IPV6_UNICAST_HOPS = 16, IPV6_MULTICAST_IF = 17, IPV6_MULTICAST_HOPS = 18,
        IPV6_MULTICAST_LOOP = 19, IPV6_ADD_MEMBERSHIP = 20, IPV6_RECVPKTINFO = 49, IPV6_PKTINFO = 50,
        IPV6_RECVHOPLIMIT = 51, IPV6_HOPLIMIT = 52;
    public const int SOL_NETLINK = 270, NETLINK_ROUTE = 0;
    public const int MSG_DONTWAIT = 0x40, MSG_TRUNC = 0x20;
    public const int EAGAIN = 11, EINTR = 4;

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec { public void* Base; public nuint Length; }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name; public uint NameLen; public IoVec* Iov; public nuint IovLen;
        public void* Control; public nuint ControlLen; public int Flags;
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    public static partial int Bind(int fd, void* addr, uint length);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    public static partial nint RecvMsg(nint fd, MsgHdr* msg, int flags);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    public static partial int SetNs(int fd, int nsType);

    /// <summary>errno of the last P/Invoke, as text ("Operation not permitted (errno 1)").</summary>
    public static string ErrorText(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";

    /// <summary>socket(2) with CLOEXEC; throws with the errno text on failure.</summary>
    public static int CreateSocket(int domain, int type, int protocol)
    {
        int fd = Socket(domain, type | SOCK_CLOEXEC, protocol);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new System.Net.Sockets.SocketException(errno, $"socket({domain}, {type}, {protocol}): {ErrorText(errno)}");
        }
        return fd;
    }
}
