using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Rampart.Vrrp.Protocol;

/// <summary>Why a received packet was dropped; counted per instance (keepalived's VRRP_PACKET_* and the RFC 6527 MIB).</summary>
public enum InvalidPacketReason
{
    TooShort,
    BadVersion,
    BadType,
    BadChecksum,
    BadLength,
    BadTtl,
    VersionMismatch,
    AuthMismatch,
    IntervalMismatch,
    UnknownVirtualRouter,
}

/// <summary>
/// A VRRP advertisement. Version 2 is RFC 3768 section 5.1 (interval in seconds, 8 bytes of authentication
/// data, checksum over the VRRP message); version 3 is RFC 5798 section 5.1 (12-bit interval in centiseconds,
/// no authentication, checksum over an IPv4 or IPv6 pseudo-header).
/// </summary>
public sealed record VrrpPacket(
    int Version,
    byte VirtualRouterId,
    byte Priority,
    int AdvertIntervalCentiseconds,
    IReadOnlyList<IPAddress> Addresses,
    string? AuthPass = null)
{
    public const byte ProtocolNumber = 112;
    public const int HeaderLength = 8;
    public const int AuthDataLength = 8;
    public const byte AuthTypeNone = 0;
    public const byte AuthTypePass = 1;
    public static readonly IPAddress MulticastV4 = IPAddress.Parse("224.0.0.18");
    public static readonly IPAddress MulticastV6 = IPAddress.Parse("ff02::12");

    public TimeSpan AdvertInterval => TimeSpan.FromMilliseconds(AdvertIntervalCentiseconds * 10);

    public int Length(AddressFamily family) =>
        HeaderLength + Addresses.Count * AddressLength(family) + (Version == 2 ? AuthDataLength : 0);

    private static int AddressLength(AddressFamily family) => family == AddressFamily.InterNetworkV6 ? 16 : 4;

    /// <summary>Writes the packet with its checksum. source/destination are the IP header's, used by the v3 pseudo-header.</summary>
    public int Write(Span<byte> buffer, IPAddress source, IPAddress destination)
    {
        var family = source.AddressFamily;
        int length = Length(family);
        if (buffer.Length < length) throw new ArgumentException("buffer too small", nameof(buffer));
        var packet = buffer[..length];
        packet.Clear();
        packet[0] = (byte)((Version << 4) | 1);
        packet[1] = VirtualRouterId;
        packet[2] = Priority;
        packet[3] = (byte)Addresses.Count;
        if (Version == 2)
        {
            packet[4] = AuthPass is null ? AuthTypeNone : AuthTypePass;
            packet[5] = (byte)(AdvertIntervalCentiseconds / 100);
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(packet[4..], (ushort)(AdvertIntervalCentiseconds & 0x0fff));
        }
        int offset = HeaderLength;
        foreach (var address in Addresses)
        {
            address.TryWriteBytes(packet[offset..], out int written);
            offset += written;
        }
        if (Version == 2 && AuthPass is not null)
            Encoding.ASCII.GetBytes(AuthPass.AsSpan(0, Math.Min(AuthPass.Length, AuthDataLength)), packet[offset..]);
        ushort checksum = Version == 2
            ? InternetChecksum.Compute(packet)
            : InternetChecksum.ComputeWithPseudoHeader(packet, source, destination, ProtocolNumber);
        BinaryPrimitives.WriteUInt16BigEndian(packet[6..], checksum);
        return length;
    }

    /// <summary>
    /// Parses and validates a received VRRP message (IP header already removed). Checks version, type,
    /// length against the address count, and the checksum. Returns null with the reason when invalid.
    /// </summary>
    public static VrrpPacket? TryParse(ReadOnlySpan<byte> data, IPAddress source, IPAddress destination, out InvalidPacketReason reason)
    {
        reason = default;
        if (data.Length < HeaderLength) { reason = InvalidPacketReason.TooShort; return null; }
        int version = data[0] >> 4;
        if (version is not (2 or 3)) { reason = InvalidPacketReason.BadVersion; return null; }
        if ((data[0] & 0x0f) != 1) { reason = InvalidPacketReason.BadType; return null; }
        var family = source.AddressFamily;
        if (version == 2 && family == AddressFamily.InterNetworkV6) { reason = InvalidPacketReason.BadVersion; return null; }
        int count = data[3];
        int addressLength = AddressLength(family);
        int expected = HeaderLength + count * addressLength + (version == 2 ? AuthDataLength : 0);
        // keepalived and the RFCs allow trailing bytes only for v2's optional auth data; anything shorter is malformed.
        if (data.Length < expected) { reason = InvalidPacketReason.BadLength; return null; }
        var packet = data[..expected];
        bool checksumOk = version == 2
            ? InternetChecksum.Compute(packet) == 0
            : InternetChecksum.ComputeWithPseudoHeader(packet, source, destination, ProtocolNumber) == 0;
        if (!checksumOk) { reason = InvalidPacketReason.BadChecksum; return null; }

        var addresses = new IPAddress[count];
        for (int i = 0; i < count; i++)
            addresses[i] = new IPAddress(packet.Slice(HeaderLength + i * addressLength, addressLength));
        int interval;
        string? authPass = null;
        if (version == 2)
        {
            interval = packet[5] * 100;
            if (packet[4] == AuthTypePass)
            {
                var auth = packet.Slice(HeaderLength + count * addressLength, AuthDataLength);
                int end = auth.IndexOf((byte)0);
                authPass = Encoding.ASCII.GetString(end < 0 ? auth : auth[..end]);
            }
        }
        else
        {
            interval = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]) & 0x0fff;
        }
        return new VrrpPacket(version, packet[1], packet[2], interval, addresses, authPass);
    }
}

/// <summary>RFC 1071 Internet checksum, plain and with the IPv4 / IPv6 pseudo-header (RFC 5798 section 5.2.8).</summary>
public static class InternetChecksum
{
    public static ushort Compute(ReadOnlySpan<byte> data) => Fold(Sum(data, 0));

    public static ushort ComputeWithPseudoHeader(ReadOnlySpan<byte> data, IPAddress source, IPAddress destination, byte protocol)
    {
        Span<byte> pseudo = stackalloc byte[40];
        int length;
        if (source.AddressFamily == AddressFamily.InterNetworkV6)
        {
            pseudo.Clear();
            source.TryWriteBytes(pseudo, out _);
            destination.TryWriteBytes(pseudo[16..], out _);
            BinaryPrimitives.WriteUInt32BigEndian(pseudo[32..], (uint)data.Length);
            pseudo[39] = protocol;
            length = 40;
        }
        else
        {
            source.TryWriteBytes(pseudo, out _);
            destination.TryWriteBytes(pseudo[4..], out _);
            pseudo[8] = 0;
            pseudo[9] = protocol;
            BinaryPrimitives.WriteUInt16BigEndian(pseudo[10..], (ushort)data.Length);
            length = 12;
        }
        return Fold(Sum(data, Sum(pseudo[..length], 0)));
    }

    private static ulong Sum(ReadOnlySpan<byte> data, ulong sum)
    {
        int i = 0;
        for (; i + 1 < data.Length; i += 2) sum += (uint)(data[i] << 8 | data[i + 1]);
        if (i < data.Length) sum += (uint)(data[i] << 8);
        return sum;
    }

    private static ushort Fold(ulong sum)
    {
        while (sum >> 16 != 0) sum = (sum & 0xffff) + (sum >> 16);
        return (ushort)~sum;
    }
}
