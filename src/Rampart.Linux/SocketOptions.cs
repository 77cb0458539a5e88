using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Rampart.Linux;

/// <summary>Socket options set through <see cref="Socket.SetRawSocketOption"/> with hand-built option values.</summary>
internal static class SocketOptions
{
    public static void SetInt(Socket socket, int level, int name, int value)
    {
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(v, value);
        socket.SetRawSocketOption(level, name, v);
    }

    public static void BindToDevice(Socket socket, string device)
    {
        byte[] name = Encoding.ASCII.GetBytes(device + "\0");
        socket.SetRawSocketOption(Native.SOL_SOCKET, Native.SO_BINDTODEVICE, name);
    }

    /// <summary>Attaches a classic BPF program "ret 0": the socket receives nothing (a send-only raw socket).</summary>
    public static unsafe void DropAllReceived(Socket socket)
    {
        // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } — BPF_RET|BPF_K (0x06), k = 0.
        ulong instruction = 0x06;
        // struct sock_fprog { unsigned short len; struct sock_filter *filter; } (16 bytes on 64-bit).
        Span<byte> program = stackalloc byte[16];
        program.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(program, 1);
        BinaryPrimitives.WriteInt64LittleEndian(program[8..], (long)(nint)(&instruction));
        socket.SetRawSocketOption(Native.SOL_SOCKET, Native.SO_ATTACH_FILTER, program);
    }

    /// <summary>struct ip_mreqn { in_addr multiaddr; in_addr address; int ifindex; }.</summary>
    public static byte[] IpMreqn(IPAddress group, int ifIndex)
    {
        var value = new byte[12];
        group.TryWriteBytes(value.AsSpan(0, 4), out _);
        BinaryPrimitives.WriteInt32LittleEndian(value.AsSpan(8), ifIndex);
        return value;
    }

    /// <summary>struct ipv6_mreq { in6_addr multiaddr; int ifindex; }.</summary>
    public static byte[] Ipv6Mreq(IPAddress group, int ifIndex)
    {
        var value = new byte[20];
        group.TryWriteBytes(value.AsSpan(0, 16), out _);
        BinaryPrimitives.WriteInt32LittleEndian(value.AsSpan(16), ifIndex);
        return value;
    }
}
