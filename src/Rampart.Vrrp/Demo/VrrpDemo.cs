using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Rampart.Linux;
using Rampart.Vrrp.Daemon;

namespace Rampart.Vrrp.Demo;

/// <summary>
/// `rampart demo vrrp`: two routers and a client on a LAN of namespaces. r1 (priority 150) holds the VIP; the
/// demo kills r1 as a dead host would die, shows r2 taking the VIP and the client's service gap, then brings
/// r1 back and shows it preempting. Everything it made is removed at the end, also on Ctrl-C or error.
/// </summary>
public sealed class VrrpDemo(string rampartPath, TextWriter output)
{
    private const int Port = 7777;
    private static readonly IPAddress Vip = IPAddress.Parse("10.213.0.100");
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private void Say(string text) => output.WriteLine($"[{_clock.Elapsed.TotalSeconds,7:0.000}s] {text}");

    public static string Config(string name, int priority) => $$"""
        ! rampart demo: {{name}}
        global_defs {
            router_id {{name}}
            vrrp_version 3
        }
        vrrp_instance VI_DEMO {
            state {{(priority > 100 ? "MASTER" : "BACKUP")}}
            interface eth0
            virtual_router_id 51
            priority {{priority}}
            advert_int 0.1
            virtual_ipaddress {
                {{Vip}}/24
            }
        }
        """;

    public async Task<int> RunAsync(CancellationToken token)
    {
        string prefix = $"rd{Environment.ProcessId % 10000}";
        string dir = Directory.CreateTempSubdirectory("rampart-demo-").FullName;
        Say($"building namespaces {prefix}-r1, {prefix}-r2 (routers), {prefix}-c (client) on one bridge");
        using var lan = VirtualLan.Create(prefix, [("r1", "10.213.0.11/24"), ("r2", "10.213.0.12/24"), ("c", "10.213.0.50/24")]);
        var daemons = new Dictionary<string, Process>();
        try
        {
            foreach (var (router, priority) in new[] { ("r1", 150), ("r2", 100) })
            {
                File.WriteAllText(Path.Combine(dir, $"{router}.conf"), Config(router, priority));
                lan[router].Start(rampartPath, ["demo", "echo", "--name", router, "--port", Port.ToString()]);
                daemons[router] = StartDaemon(lan, router, dir);
            }
            Say($"r1: rampart vrrp run (priority 150), r2: rampart vrrp run (priority 100); VRRPv3, advert_int 0.1 s, VIP {Vip}");
            using var prober = new UdpProber(lan["c"].Enter(() => UdpProber.CreateSocket(AddressFamily.InterNetwork)), new IPEndPoint(Vip, Port));
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(token);
            var probing = prober.RunAsync(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(50), stop.Token);
            Say("client: one UDP probe to the VIP every 10 ms");

            if (!await WaitForAsync(() => prober.LastResponder == "r1", TimeSpan.FromSeconds(10), token)) return Fail("r1 never answered on the VIP", daemons);
            Say("client: r1 answers on the VIP");
            if (!await WaitForAsync(() => BackupFollows(dir), TimeSpan.FromSeconds(10), token)) return Fail("r2 never settled as backup", daemons);
            Say("r2: BACKUP, hearing r1's adverts");

            var killedAt = prober.Elapsed;
            Kill(daemons["r1"]);
            lan.SetLink("r1", up: false);
            Say("r1 dies: rampart killed with SIGKILL and its link cut");
            if (!await WaitForAsync(() => prober.LastResponder == "r2", TimeSpan.FromSeconds(10), token)) return Fail("r2 never took over", daemons);
            var failover = UdpProber.Gap(prober.Snapshot(), killedAt);
            Say($"client: r2 answers on the VIP; service gap {failover.Gap.TotalMilliseconds:0} ms ({failover.Lost} probes lost)");

            var backAt = prober.Elapsed;
            lan.SetLink("r1", up: true);
            daemons["r1"] = StartDaemon(lan, "r1", dir);
            Say("r1 returns: link up, rampart restarted (priority 150 preempts)");
            if (!await WaitForAsync(() => prober.LastResponder == "r1", TimeSpan.FromSeconds(10), token)) return Fail("r1 did not take the VIP back", daemons);
            var failback = UdpProber.Gap(prober.Snapshot(), backAt);
            Say($"client: r1 answers again; failback lost {failback.Lost} probes");
            stop.Cancel();
            await probing;

            output.WriteLine();
            output.WriteLine($"failover (host death): {failover.Gap.TotalMilliseconds:0} ms without service; protocol bound 3 x 100 ms + skew = {300 + 100 * 156 / 256.0:0} ms");
            output.WriteLine($"failback (preemption): {failback.Lost} probes lost");
            output.WriteLine("next: `rampart vrrp check -f FILE` on your keepalived.conf, then `rampart vrrp run -f FILE`.");
            return 0;
        }
        finally
        {
            foreach (var daemon in daemons.Values) Kill(daemon);
            Directory.Delete(dir, recursive: true);
            Say("namespaces removed");
        }
    }

    /// <summary>r2 is a settled backup: it has heard a second of r1's adverts.</summary>
    private static bool BackupFollows(string dir)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            var json = ControlSocket.RequestAsync(Path.Combine(dir, "r2.sock"), "status", timeout.Token).GetAwaiter().GetResult();
            var status = System.Text.Json.JsonSerializer.Deserialize<DaemonStatus>(json, ControlSocket.Json)!;
            var instance = status.Instances[0];
            return instance is { State: "BACKUP", MasterAddress: "10.213.0.11" } && instance.AdvertsReceived >= 10;
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or System.Text.Json.JsonException)
        {
            return false;
        }
    }

    private Process StartDaemon(VirtualLan lan, string router, string dir) =>
        lan[router].Start(rampartPath, ["vrrp", "run", "-f", Path.Combine(dir, $"{router}.conf"), "--control-socket", Path.Combine(dir, $"{router}.sock")]);

    private int Fail(string message, Dictionary<string, Process> daemons)
    {
        Say($"demo failed: {message}");
        foreach (var (name, daemon) in daemons)
            if (daemon.HasExited) output.WriteLine($"{name} exited {daemon.ExitCode}: {daemon.StandardError.ReadToEnd()}");
        return 1;
    }

    private static void Kill(Process process)
    {
        try { if (!process.HasExited) process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
    }

    private static async Task<bool> WaitForAsync(Func<bool> condition, TimeSpan limit, CancellationToken token)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > limit) return false;
            await Task.Delay(10, token);
        }
        return true;
    }
}
