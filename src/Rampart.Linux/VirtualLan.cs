using System.Net;

namespace Rampart.Linux;

/// <summary>
/// Hosts on one Ethernet segment, all in network namespaces made here: a "switch" namespace holds a bridge,
/// and each host's eth0 is a veth plugged into it. Addresses exist only inside; there is no default route.
/// </summary>
public sealed class VirtualLan : IDisposable
{
    private readonly List<NetworkNamespace> _namespaces = [];
    private readonly Dictionary<string, NetworkNamespace> _hosts = new();

    private VirtualLan(string prefix) => Prefix = prefix;

    /// <summary>Short unique prefix of every namespace and interface name (≤ 6 chars keeps veth names within 15).</summary>
    public string Prefix { get; }
    public NetworkNamespace Switch => _namespaces[0];
    public NetworkNamespace this[string host] => _hosts[host];
    public IEnumerable<string> Hosts => _hosts.Keys;

    /// <summary>
    /// Builds the LAN. hosts: name → IPv4 address with prefix, e.g. ("r1", "10.213.0.11/24"). Each host also gets
    /// fd00:213::&lt;last octet&gt;/64 and a MAC 02:00:00:00:00:&lt;last octet&gt;.
    /// </summary>
    public static VirtualLan Create(string prefix, IEnumerable<(string Host, string Address)> hosts)
    {
        var lan = new VirtualLan(prefix);
        try
        {
            var sw = NetworkNamespace.Create($"{prefix}-sw");
            lan._namespaces.Add(sw);
            sw.Exec("ip", "link", "add", "br0", "type", "bridge", "forward_delay", "0", "stp_state", "0");
            sw.Exec("ip", "link", "set", "br0", "up");
            foreach (var (host, address) in hosts)
            {
                var ns = NetworkNamespace.Create($"{prefix}-{host}");
                lan._namespaces.Add(ns);
                lan._hosts[host] = ns;
                var ip = IPAddress.Parse(address.Split('/')[0]);
                byte last = ip.GetAddressBytes()[3];
                string inside = $"{prefix}{host}i", outside = $"{prefix}{host}o";
                NetworkNamespace.Ip("link", "add", inside, "type", "veth", "peer", "name", outside);
                NetworkNamespace.Ip("link", "set", inside, "netns", ns.Name);
                NetworkNamespace.Ip("link", "set", outside, "netns", sw.Name);
                ns.Exec("ip", "link", "set", inside, "name", "eth0");
                ns.Exec("ip", "link", "set", "eth0", "address", $"02:00:00:00:00:{last:x2}");
                // Duplicate address detection would hold IPv6 addresses "tentative" for a second; not wanted here.
                ns.Exec("sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0");
                ns.Exec("ip", "addr", "add", address, "dev", "eth0");
                ns.Exec("ip", "addr", "add", $"fd00:213::{last:x}/64", "dev", "eth0", "nodad");
                ns.Exec("ip", "link", "set", "eth0", "up");
                sw.Exec("ip", "link", "set", outside, "master", "br0");
                sw.Exec("ip", "link", "set", outside, "up");
            }
            return lan;
        }
        catch
        {
            lan.Dispose();
            throw;
        }
    }

    /// <summary>Cuts a host off the segment (as a dead NIC or pulled cable would) or plugs it back.</summary>
    public void SetLink(string host, bool up) =>
        Switch.Exec("ip", "link", "set", $"{Prefix}{host}o", up ? "up" : "down");

    public void Dispose()
    {
        foreach (var ns in Enumerable.Reverse(_namespaces)) ns.Dispose();
        _namespaces.Clear();
    }
}
