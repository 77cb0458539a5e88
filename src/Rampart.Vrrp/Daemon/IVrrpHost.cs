using System.Net;
using System.Net.Sockets;
using Rampart.Linux;

namespace Rampart.Vrrp.Daemon;

/// <summary>Everything the daemon needs from the operating system, in one seam.</summary>
public interface IVrrpHost
{
    IVrrpSocket OpenSocket(AddressFamily family, string device, IPAddress? source, bool joinMulticast);
    InterfaceInfo? GetInterface(string device);
    IAddressManager Addresses { get; }
    IAddressAnnouncer Announcer { get; }
    /// <summary>Calls back with (device, isUp) whenever a watched link changes.</summary>
    IDisposable WatchLinks(IEnumerable<string> devices, Action<string, bool> onChange);
}

/// <summary>The real host: raw sockets, netlink, ARP/NA and link events of Rampart.Linux.</summary>
public sealed class LinuxVrrpHost : IVrrpHost
{
    public IVrrpSocket OpenSocket(AddressFamily family, string device, IPAddress? source, bool joinMulticast) =>
        VrrpSocket.Open(family, device, source, joinMulticast);

    public InterfaceInfo? GetInterface(string device) => Interfaces.Get(device);

    public IAddressManager Addresses { get; } = new IpAddressManager();

    public IAddressAnnouncer Announcer { get; } = new AddressAnnouncer();

    public IDisposable WatchLinks(IEnumerable<string> devices, Action<string, bool> onChange)
    {
        var monitor = new LinkMonitor(devices);
        monitor.LinkChanged += onChange;
        return monitor;
    }
}
