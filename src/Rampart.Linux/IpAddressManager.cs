using System.Net;
using System.Net.Sockets;

namespace Rampart.Linux;

/// <summary>
/// Adds, removes and checks addresses over rtnetlink (RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR), as
/// "ip addr add|del ADDR/LEN dev DEV [label L] [scope S]" would. The netlink socket is opened in the
/// constructor and so works in the network namespace of the constructing thread.
/// </summary>
public sealed class IpAddressManager : IAddressManager, IDisposable
{
    private readonly NetlinkRoute _netlink = new();

    /// <summary>IPv6 addresses are added with IFA_F_NODAD (as keepalived does for VIPs) unless this is false.</summary>
    public bool IPv6NoDad { get; init; } = true;

    public Task AddAsync(InterfaceAddress address, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        int index = IndexOf(address.Device);
        bool v6 = address.Address.AddressFamily == AddressFamily.InterNetworkV6;
        byte flags = v6 && IPv6NoDad ? (byte)AddressRecord.IFA_F_NODAD : (byte)0;
        var request = new NetlinkMessageBuilder(NetlinkRoute.RTM_NEWADDR,
                NetlinkRoute.NLM_F_REQUEST | NetlinkRoute.NLM_F_ACK | NetlinkRoute.NLM_F_CREATE | NetlinkRoute.NLM_F_EXCL)
            .Header(NetlinkRoute.IfAddrMessage(address.Address.AddressFamily, address.PrefixLength, flags, ParseScope(address.Scope), index));
        byte[] raw = address.Address.GetAddressBytes();
        request.Attribute(NetlinkRoute.IFA_LOCAL, raw).Attribute(NetlinkRoute.IFA_ADDRESS, raw);
        if (!string.IsNullOrEmpty(address.Label))
        {
            if (v6) throw new ArgumentException("IPv6 addresses have no label", nameof(address));
            if (address.Label.Length > 15) throw new ArgumentException($"label {address.Label} is longer than 15 characters", nameof(address));
            request.Attribute(NetlinkRoute.IFA_LABEL, address.Label);
        }
        int errno = _netlink.Request(request, null);
        if (errno != 0 && errno != NetlinkRoute.EEXIST) throw new NetlinkException($"add {address}", errno);
        return Task.CompletedTask;
    }

    public Task RemoveAsync(InterfaceAddress address, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var link = _netlink.GetLink(address.Device);
        if (link is null) return Task.CompletedTask; // the device is gone, so is the address
        byte[] raw = address.Address.GetAddressBytes();
        var request = new NetlinkMessageBuilder(NetlinkRoute.RTM_DELADDR, NetlinkRoute.NLM_F_REQUEST | NetlinkRoute.NLM_F_ACK)
            .Header(NetlinkRoute.IfAddrMessage(address.Address.AddressFamily, address.PrefixLength, 0, 0, link.Index))
            .Attribute(NetlinkRoute.IFA_LOCAL, raw).Attribute(NetlinkRoute.IFA_ADDRESS, raw);
        int errno = _netlink.Request(request, null);
        if (errno != 0 && errno != NetlinkRoute.EADDRNOTAVAIL) throw new NetlinkException($"delete {address}", errno);
        return Task.CompletedTask;
    }

    /// <summary>True when the address (any prefix length) is on the device.</summary>
    public Task<bool> ExistsAsync(InterfaceAddress address, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var link = _netlink.GetLink(address.Device);
        if (link is null) return Task.FromResult(false);
        var wanted = new IPAddress(address.Address.GetAddressBytes()); // ignore the scope id
        bool found = _netlink.GetAddresses(address.Address.AddressFamily)
            .Any(a => a.Index == link.Index && new IPAddress(a.Address.GetAddressBytes()).Equals(wanted));
        return Task.FromResult(found);
    }

    /// <summary>The label of the address on the device, or null (IPv4 only; for tests and diagnostics).</summary>
    public string? LabelOf(InterfaceAddress address)
    {
        var link = _netlink.GetLink(address.Device);
        if (link is null) return null;
        return _netlink.GetAddresses(address.Address.AddressFamily)
            .FirstOrDefault(a => a.Index == link.Index && a.Address.Equals(address.Address))?.Label;
    }

    /// <summary>"global", "site", "link", "host", "nowhere" or a number 0–255; null = global.</summary>
    public static byte ParseScope(string? scope) => scope?.Trim().ToLowerInvariant() switch
    {
        null or "" or "global" or "universe" => 0,
        "site" => 200,
        "link" => 253,
        "host" => 254,
        "nowhere" => 255,
        var s when byte.TryParse(s, out byte n) => n,
        var s => throw new ArgumentException($"unknown address scope '{s}'", nameof(scope)),
    };

    private int IndexOf(string device) =>
        _netlink.GetLink(device)?.Index ?? throw new InvalidOperationException($"interface {device} does not exist");

    public void Dispose() => _netlink.Dispose();
}
