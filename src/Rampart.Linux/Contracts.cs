using System.Net;
using System.Net.Sockets;

namespace Rampart.Linux;

/// <summary>A VRRP packet as it arrived: the VRRP payload (IP header stripped) and what the IP layer said about it.</summary>
public readonly record struct ReceivedDatagram(
    ReadOnlyMemory<byte> Payload, IPAddress Source, IPAddress Destination, int HopLimit, int InterfaceIndex);

/// <summary>
/// Raw IP protocol-112 socket on one interface and one address family. Sends with TTL / hop limit 255,
/// no multicast loopback; receives only what arrives on that interface.
/// </summary>
public interface IVrrpSocket : IDisposable
{
    AddressFamily Family { get; }
    /// <summary>Sends one VRRP payload; the kernel builds the IP header (source = the bound source address).</summary>
    void Send(ReadOnlySpan<byte> payload, IPAddress destination);
    /// <summary>Blocks until the next datagram (malformed IP framing is skipped inside); Dispose ends it with ObjectDisposedException.</summary>
    ReceivedDatagram Receive();
}

/// <summary>An address as iproute2 sees it: "ip addr add 10.0.0.1/24 dev eth0 label eth0:1 scope global".</summary>
public sealed record InterfaceAddress(IPAddress Address, int PrefixLength, string Device, string? Label = null, string? Scope = null)
{
    public override string ToString() => $"{Address}/{PrefixLength} dev {Device}";
}

/// <summary>Adds and removes addresses on interfaces (netlink or iproute2).</summary>
public interface IAddressManager
{
    /// <summary>Adds the address; already present is success.</summary>
    Task AddAsync(InterfaceAddress address, CancellationToken cancellationToken = default);
    /// <summary>Removes the address; already absent is success.</summary>
    Task RemoveAsync(InterfaceAddress address, CancellationToken cancellationToken = default);
    /// <summary>True when the address is configured on the device.</summary>
    Task<bool> ExistsAsync(InterfaceAddress address, CancellationToken cancellationToken = default);
}

/// <summary>Announces that this host now owns an address: gratuitous ARP (IPv4) or unsolicited neighbour advertisement (IPv6).</summary>
public interface IAddressAnnouncer
{
    void Announce(string device, IPAddress address);
}

/// <summary>Facts about one interface, read when asked.</summary>
public sealed record InterfaceInfo(string Name, int Index, byte[] MacAddress, bool IsUp, IPAddress? PrimaryIPv4, IPAddress? LinkLocalIPv6);
