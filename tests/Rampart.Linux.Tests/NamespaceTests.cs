using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Xunit.Abstractions;

namespace Rampart.Linux.Tests;

/// <summary>Real sockets and netlink inside two network namespaces joined by a veth pair.</summary>
public sealed class NamespaceTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);
    private readonly VethPair _net = new();

    public void Dispose() => _net.Dispose();

    /// <summary>Receive with a deadline: the socket is disposed if nothing arrives in time.</summary>
    private static ReceivedDatagram Receive(VrrpSocket socket)
    {
        var pending = Task.Run(socket.Receive);
        if (!pending.Wait(Deadline)) { socket.Dispose(); throw new TimeoutException("no datagram within the deadline"); }
        return pending.Result;
    }

    [Fact]
    public void Interfaces_reports_index_mac_state_and_addresses()
    {
        _net.A.Run($"ip addr add 10.77.0.5/24 dev {VethPair.DeviceA}"); // a secondary: primary stays .1
        var info = _net.A.Enter(() => Interfaces.Get(VethPair.DeviceA))!;
        string link = _net.A.Run($"ip -o link show dev {VethPair.DeviceA}");
        Assert.StartsWith($"{info.Index}: ", link);
        Assert.Contains("link/ether " + string.Join(":", info.MacAddress.Select(b => b.ToString("x2"))), link);
        Assert.True(info.IsUp);
        Assert.Equal(VethPair.V4A, info.PrimaryIPv4);
        Assert.True(info.LinkLocalIPv6!.IsIPv6LinkLocal);
        Assert.Equal(info.Index, info.LinkLocalIPv6.ScopeId);
        Assert.Null(_net.A.Enter(() => Interfaces.Get("nosuchdev0")));
        Assert.False(_net.A.Enter(() => Interfaces.IsUp("nosuchdev0")));
        Assert.True(_net.A.Enter(() => Interfaces.IsUp(VethPair.DeviceA)));
    }

    [Fact]
    public void IPv4_multicast_advert_arrives_with_ttl_255()
    {
        using var a = _net.A.Enter(() => VrrpSocket.Open(AddressFamily.InterNetwork, VethPair.DeviceA, null, true));
        using var b = _net.B.Enter(() => VrrpSocket.Open(AddressFamily.InterNetwork, VethPair.DeviceB, null, true));
        Assert.Equal(VethPair.V4A, a.LocalAddress);
        byte[] payload = [0x21, 0x33, 0x96, 0x01, 0x00, 0x01, 0x00, 0x00, 10, 77, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0];
        a.Send(payload, VrrpSocket.MulticastGroupV4);
        var d = Receive(b);
        Assert.Equal(payload, d.Payload.ToArray());
        Assert.Equal(VethPair.V4A, d.Source);
        Assert.Equal(VrrpSocket.MulticastGroupV4, d.Destination);
        Assert.Equal(255, d.HopLimit);
        Assert.Equal(b.InterfaceIndex, d.InterfaceIndex);
    }

    [Fact]
    public void IPv6_multicast_advert_arrives_with_hop_limit_255_from_link_local()
    {
        using var a = _net.A.Enter(() => VrrpSocket.Open(AddressFamily.InterNetworkV6, VethPair.DeviceA, null, true));
        using var b = _net.B.Enter(() => VrrpSocket.Open(AddressFamily.InterNetworkV6, VethPair.DeviceB, null, true));
        Assert.True(a.LocalAddress.IsIPv6LinkLocal);
        byte[] payload = [0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0x00, 0x00, .. IPAddress.Parse("fd00:77::100").GetAddressBytes()];
        a.Send(payload, VrrpSocket.MulticastGroupV6);
        var d = Receive(b);
        Assert.Equal(payload, d.Payload.ToArray());
        Assert.Equal(a.LocalAddress.GetAddressBytes(), d.Source.GetAddressBytes());
        Assert.Equal(VrrpSocket.MulticastGroupV6, d.Destination);
        Assert.Equal(255, d.HopLimit);
        Assert.Equal(b.InterfaceIndex, d.InterfaceIndex);
    }

    [Fact]
    public void IPv4_unicast_with_given_source()
    {
        _net.A.Run($"ip addr add 10.77.0.9/24 dev {VethPair.DeviceA}");
        var source = IPAddress.Parse("10.77.0.9");
        using var a = _net.A.Enter(() => VrrpSocket.Open(AddressFamily.InterNetwork, VethPair.DeviceA, source, false));
        using var b = _net.B.Enter(() => VrrpSocket.Open(AddressFamily.InterNetwork, VethPair.DeviceB, null, false));
        byte[] payload = [1, 2, 3, 4, 5, 6, 7, 8];
        a.Send(payload, VethPair.V4B);
        var d = Receive(b);
        Assert.Equal(payload, d.Payload.ToArray());
        Assert.Equal(source, d.Source);
        Assert.Equal(VethPair.V4B, d.Destination);
        Assert.Equal(255, d.HopLimit);
    }

    [Fact]
    public void IPv6_unicast_with_given_source()
    {
        using var a = _net.A.Enter(() => VrrpSocket.Open(AddressFamily.InterNetworkV6, VethPair.DeviceA, VethPair.V6A, false));
        using var b = _net.B.Enter(() => VrrpSocket.Open(AddressFamily.InterNetworkV6, VethPair.DeviceB, null, false));
        byte[] payload = [9, 8, 7, 6, 5, 4, 3, 2];
        a.Send(payload, VethPair.V6B);
        var d = Receive(b);
        Assert.Equal(payload, d.Payload.ToArray());
        Assert.Equal(VethPair.V6A, d.Source);
        Assert.Equal(VethPair.V6B, d.Destination);
        Assert.Equal(255, d.HopLimit);
    }

    [Theory]
    [InlineData(AddressFamily.InterNetwork)]
    [InlineData(AddressFamily.InterNetworkV6)]
    public async Task Pending_receive_ends_on_dispose(AddressFamily family)
    {
        using var b = _net.B.Enter(() => VrrpSocket.Open(family, VethPair.DeviceB, null, true));
        var pending = Task.Run(b.Receive);
        await WaitUntilBlockedAsync(pending);
        b.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending).WaitAsync(Deadline);
    }

    /// <summary>The receive must really be blocked in the kernel before Dispose, or the test proves nothing.</summary>
    private static async Task WaitUntilBlockedAsync(Task pending)
    {
        var clock = Stopwatch.StartNew();
        while (pending.Status != TaskStatus.Running && clock.Elapsed < Deadline) await Task.Delay(5);
        Assert.Equal(TaskStatus.Running, pending.Status);
    }

    [Fact]
    public async Task IpAddressManager_adds_checks_and_removes_with_label_and_scope()
    {
        using var manager = _net.A.Enter(() => new IpAddressManager());
        var vip = new InterfaceAddress(IPAddress.Parse("10.77.0.100"), 24, VethPair.DeviceA, Label: "va:vip");
        Assert.False(await manager.ExistsAsync(vip));

        var watch = Stopwatch.StartNew();
        await manager.AddAsync(vip);
        output.WriteLine($"netlink add: {watch.Elapsed.TotalMicroseconds:F0} µs (first call)");
        Assert.True(await manager.ExistsAsync(vip));
        Assert.Equal("va:vip", manager.LabelOf(vip));
        Assert.Contains("10.77.0.100/24", _net.A.Run($"ip -4 addr show dev {VethPair.DeviceA} label va:vip"));
        await manager.AddAsync(vip); // already present: success

        watch.Restart();
        await manager.RemoveAsync(vip);
        output.WriteLine($"netlink del: {watch.Elapsed.TotalMicroseconds:F0} µs");
        Assert.False(await manager.ExistsAsync(vip));
        await manager.RemoveAsync(vip); // already absent: success

        var host = new InterfaceAddress(IPAddress.Parse("10.77.1.1"), 32, VethPair.DeviceA, Scope: "host");
        await manager.AddAsync(host);
        Assert.Contains("scope host", _net.A.Run($"ip -4 addr show dev {VethPair.DeviceA} to 10.77.1.1/32"));

        var v6 = new InterfaceAddress(IPAddress.Parse("fd00:77::100"), 64, VethPair.DeviceA);
        await manager.AddAsync(v6);
        Assert.True(await manager.ExistsAsync(v6));
        Assert.DoesNotContain("tentative", _net.A.Run($"ip -6 addr show dev {VethPair.DeviceA}"));
        await manager.RemoveAsync(v6);
        Assert.False(await manager.ExistsAsync(v6));

        // timing over many calls
        var timing = new InterfaceAddress(IPAddress.Parse("10.77.2.1"), 24, VethPair.DeviceA);
        watch.Restart();
        for (int i = 0; i < 100; i++)
        {
            await manager.AddAsync(timing);
            await manager.RemoveAsync(timing);
        }
        output.WriteLine($"netlink add+del: {watch.Elapsed.TotalMicroseconds / 100:F0} µs per pair");

        var bad = new InterfaceAddress(IPAddress.Parse("10.77.0.101"), 24, "nosuchdev0");
        await Assert.ThrowsAsync<InvalidOperationException>(() => manager.AddAsync(bad));
        Assert.False(await manager.ExistsAsync(bad));
        var badPrefix = new InterfaceAddress(IPAddress.Parse("10.77.0.102"), 40, VethPair.DeviceA);
        var error = await Assert.ThrowsAsync<NetlinkException>(() => manager.AddAsync(badPrefix));
        output.WriteLine(error.Message);
        Assert.Contains("errno", error.Message);
    }

    [Fact]
    public void Gratuitous_arp_updates_the_peer_neighbour_table()
    {
        var vip = IPAddress.Parse("10.77.0.100");
        B_HasStaleNeighbour(vip.ToString());
        var mac = MacOf(_net.A, VethPair.DeviceA);
        var announcer = new AddressAnnouncer();
        _net.A.Enter(() => announcer.Announce(VethPair.DeviceA, vip));
        Wait.Until(() => _net.B.Run($"ip neigh show {vip} dev {VethPair.DeviceB}").Contains(mac), Deadline, "B's neighbour entry to get A's MAC");
    }

    [Fact]
    public void Gratuitous_arp_on_the_wire_is_the_keepalived_frame()
    {
        var vip = IPAddress.Parse("10.77.0.100");
        // AF_PACKET capture of ARP (ETH_P_ARP 0x0806, network order) in B
        using var capture = _net.B.Enter(() => new Socket(AddressFamily.Packet, SocketType.Raw, (ProtocolType)0x0608));
        capture.ReceiveTimeout = (int)Deadline.TotalMilliseconds;
        var mac = _net.A.Enter(() => Interfaces.Get(VethPair.DeviceA))!.MacAddress;
        _net.A.Enter(() => new AddressAnnouncer().Announce(VethPair.DeviceA, vip));
        var expected = ArpFrame.BuildGratuitous(mac, vip);
        var buffer = new byte[2048];
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Assert.True(clock.Elapsed < Deadline, "no gratuitous ARP captured");
            int n = capture.Receive(buffer);
            if (buffer.AsSpan(0, n).StartsWith(expected)) break; // veth may pad to 60 bytes
        }
    }

    [Fact]
    public void Unsolicited_neighbour_advertisement_updates_the_peer_neighbour_table()
    {
        var vip = IPAddress.Parse("fd00:77::100");
        B_HasStaleNeighbour(vip.ToString());
        var mac = MacOf(_net.A, VethPair.DeviceA);
        var announcer = new AddressAnnouncer();
        _net.A.Enter(() => announcer.Announce(VethPair.DeviceA, vip));
        Wait.Until(() => _net.B.Run($"ip neigh show {vip} dev {VethPair.DeviceB}").Contains(mac), Deadline, "B's neighbour entry to get A's MAC");
    }

    private void B_HasStaleNeighbour(string address)
    {
        _net.B.Run($"ip neigh replace {address} lladdr 02:00:00:00:00:99 dev {VethPair.DeviceB} nud stale");
        Assert.Contains("02:00:00:00:00:99", _net.B.Run($"ip neigh show {address} dev {VethPair.DeviceB}"));
    }

    private static string MacOf(NetworkNamespace ns, string device) =>
        string.Join(":", ns.Enter(() => Interfaces.Get(device))!.MacAddress.Select(b => b.ToString("x2")));

    [Fact]
    public void LinkMonitor_sees_down_then_up()
    {
        var events = new System.Collections.Concurrent.ConcurrentQueue<(string Device, bool Up, TimeSpan At)>();
        var clock = Stopwatch.StartNew();
        using var monitor = _net.A.Enter(() => new LinkMonitor(VethPair.DeviceA));
        monitor.LinkChanged += (device, up) => events.Enqueue((device, up, clock.Elapsed));
        Assert.True(monitor.IsUp(VethPair.DeviceA));

        var downAt = clock.Elapsed;
        _net.A.Run($"ip link set dev {VethPair.DeviceA} down");
        Wait.Until(() => events.Any(e => e is { Device: VethPair.DeviceA, Up: false }), Deadline, "link down event");
        var upAt = clock.Elapsed;
        _net.A.Run($"ip link set dev {VethPair.DeviceA} up");
        Wait.Until(() => events.Any(e => e is { Device: VethPair.DeviceA, Up: true }), Deadline, "link up event");
        Assert.True(monitor.IsUp(VethPair.DeviceA));
        var down = events.First(e => !e.Up).At - downAt;
        var up = events.First(e => e.Up).At - upAt;
        output.WriteLine($"down seen {down.TotalMilliseconds:F1} ms after the command started, up {up.TotalMilliseconds:F1} ms");

        // carrier loss (peer down) counts as down too
        _net.B.Run($"ip link set dev {VethPair.DeviceB} down");
        Wait.Until(() => !monitor.IsUp(VethPair.DeviceA), Deadline, "carrier loss seen as down");
    }
}
