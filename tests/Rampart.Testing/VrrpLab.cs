using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Rampart.Linux;
using Rampart.Vrrp.Demo;

namespace Rampart.Testing;

/// <summary>
/// Two routers (r1 10.213.x.11, r2 .12) and a client (c, .50) on a LAN of namespaces unique to one test,
/// each router running a UDP echo on port 7777 that answers with its name. Everything is torn down on Dispose.
/// </summary>
public sealed class VrrpLab : IDisposable
{
    public const int EchoPort = 7777;
    public static readonly IPAddress Vip = IPAddress.Parse("10.213.0.100");
    public static readonly IPAddress Vip6 = IPAddress.Parse("fd00:213::100");
    private static int _counter;
    private readonly List<RouterProcess> _processes = [];
    private readonly List<Process> _helpers = [];

    public VrrpLab()
    {
        Dir = Directory.CreateTempSubdirectory("rampart-it-").FullName;
        string prefix = $"t{Environment.ProcessId % 1000}{Interlocked.Increment(ref _counter) % 100}";
        Lan = VirtualLan.Create(prefix, [("r1", "10.213.0.11/24"), ("r2", "10.213.0.12/24"), ("c", "10.213.0.50/24")]);
        foreach (var router in new[] { "r1", "r2" })
            _helpers.Add(Lan[router].Start(RampartCli.Path, ["demo", "echo", "--name", router, "--port", EchoPort.ToString()]));
    }

    public VirtualLan Lan { get; }
    public string Dir { get; }

    public string WriteFile(string name, string text)
    {
        var path = Path.Combine(Dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <param name="nohup">Start it under nohup (SIGHUP ignored), as an operator's shell or an init script may.</param>
    public RouterProcess StartRampart(string router, string config, string file = "", bool nohup = false)
    {
        var path = WriteFile(file == "" ? $"{router}.conf" : file, config);
        var socket = Path.Combine(Dir, $"{router}.sock");
        string[] args = ["vrrp", "run", "-f", path, "--control-socket", socket];
        var process = new RouterProcess(nohup ? Lan[router].Start("nohup", [RampartCli.Path, .. args]) : Lan[router].Start(RampartCli.Path, args), router, socket);
        _processes.Add(process);
        return process;
    }

    /// <summary>keepalived from apt, VRRP only, in the foreground, logging to the console.</summary>
    public RouterProcess StartKeepalived(string router, string config)
    {
        var path = WriteFile($"{router}-keepalived.conf", config);
        // Fresh pid files per start: keepalived refuses to start while a pid in its files still exists, and a
        // SIGKILLed VRRP child can linger as a zombie for a moment.
        string run = $"{router}-{_processes.Count}";
        var process = new RouterProcess(Lan[router].Start("keepalived",
            ["--dont-fork", "--log-console", "--log-detail", "--vrrp", "-f", path,
             "-p", Path.Combine(Dir, $"{run}-k.pid"), "-r", Path.Combine(Dir, $"{run}-v.pid"), "-c", Path.Combine(Dir, $"{run}-c.pid")]), router, null);
        _processes.Add(process);
        return process;
    }

    /// <summary>True when the address is configured on the router's interfaces.</summary>
    public bool HasAddress(string router, IPAddress address) =>
        Lan[router].Exec("ip", "-o", "addr", "show").Contains($" {address}/", StringComparison.Ordinal);

    /// <summary>Asks the VIP once from the client: the name of the router that answered, or null.</summary>
    public string? Ask(IPAddress vip, int timeoutMs = 200)
    {
        using var socket = Lan["c"].Enter(() => UdpProber.CreateSocket(vip.AddressFamily));
        socket.ReceiveTimeout = timeoutMs;
        try
        {
            socket.SendTo("?"u8, new IPEndPoint(vip, EchoPort));
            var buffer = new byte[64];
            int n = socket.Receive(buffer);
            return UdpEcho.NameOf(buffer.AsSpan(0, n));
        }
        catch (SocketException) { return null; }
    }

    /// <summary>A prober in the client namespace (one UDP probe every 10 ms).</summary>
    public UdpProber Prober(IPAddress vip) =>
        new(Lan["c"].Enter(() => UdpProber.CreateSocket(vip.AddressFamily)), new IPEndPoint(vip, EchoPort));

    public Task WaitForStateAsync(RouterProcess router, string state, string instance = "VI_1", double seconds = 10) =>
        Wait.UntilAsync(async () => (await router.InstanceAsync(instance)).State == state, TimeSpan.FromSeconds(seconds),
            $"{router.Name} {instance} {state}\n--- {router.Name} output:\n{router.Output}");

    public Task WaitForAnswerAsync(string router, IPAddress? vip = null, double seconds = 10) =>
        Wait.UntilAsync(() => Ask(vip ?? Vip) == router, TimeSpan.FromSeconds(seconds), $"{router} answering on {vip ?? Vip}\n{Outputs()}");

    public string Outputs() => string.Join("\n", _processes.Select(p => $"--- {p.Name}:\n{p.Output}"));

    public void Dispose()
    {
        foreach (var p in _processes) p.Dispose();
        foreach (var h in _helpers) { try { h.Kill(true); } catch (InvalidOperationException) { } h.Dispose(); }
        Lan.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>A keepalived.conf for one router; body lines are appended inside the instance block.</summary>
    public static string Config(string router, int priority, int version = 3, string advertInt = "0.1", string state = "BACKUP",
        string vip = "10.213.0.100/24", string extraInstance = "", string extraTop = "", string instance = "VI_1", int vrid = 51) => $$"""
        global_defs {
            router_id {{router}}
            vrrp_version {{version}}
            vrrp_garp_master_delay 1
        }
        {{extraTop}}
        vrrp_instance {{instance}} {
            state {{state}}
            interface eth0
            virtual_router_id {{vrid}}
            priority {{priority}}
            advert_int {{advertInt}}
            virtual_ipaddress {
                {{vip}}
            }
        {{extraInstance}}
        }
        """;
}
