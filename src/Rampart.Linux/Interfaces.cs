using System.Net;
using System.Net.Sockets;

namespace Rampart.Linux;

/// <summary>
/// Reads interface facts over netlink (so the answer is for the network namespace of the calling thread,
/// unlike /sys/class/net which shows the namespace sysfs was mounted in).
/// </summary>
public static class Interfaces
{
    /// <summary>Index, MAC, up (admin up + running + carrier), primary IPv4 (first non-secondary) and link-local IPv6; null when absent.</summary>
    public static InterfaceInfo? Get(string name)
    {
        using var netlink = new NetlinkRoute();
        return Get(netlink, name);
    }

    /// <summary>True when the interface exists, is administratively up, operationally up and has carrier.</summary>
    public static bool IsUp(string name)
    {
        using var netlink = new NetlinkRoute();
        return netlink.GetLink(name)?.IsUp ?? false;
    }

    internal static InterfaceInfo? Get(NetlinkRoute netlink, string name)
    {
        var link = netlink.GetLink(name);
        if (link is null) return null;
        IPAddress? primary = netlink.GetAddresses(AddressFamily.InterNetwork)
            .FirstOrDefault(a => a.Index == link.Index && (a.Flags & AddressRecord.IFA_F_SECONDARY) == 0)?.Address;
        IPAddress? linkLocal = netlink.GetAddresses(AddressFamily.InterNetworkV6)
            .FirstOrDefault(a => a.Index == link.Index && a.Address.IsIPv6LinkLocal && (a.Flags & AddressRecord.IFA_F_TENTATIVE) == 0)?.Address;
        return new InterfaceInfo(link.Name, link.Index, link.Mac, link.IsUp, primary, linkLocal);
    }

    internal static InterfaceInfo GetRequired(string name) =>
        Get(name) ?? throw new InvalidOperationException($"interface {name} does not exist");
}
