using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Rampart.Linux;
using Rampart.Testing;
using Rampart.Vrrp.Demo;

namespace Rampart.Bench;

/// <summary>
/// The client-observed service gap of a VIP failover, keepalived against rampart, same topology, same config,
/// same prober (one UDP probe every 10 ms, 50 ms timeout). Scenarios as in shared/reference/keepalived:
/// host death (daemon killed and link cut at once), crash (kill -9 of the whole daemon), graceful stop
/// (SIGTERM), and the failback (r1 back, preempting) after each.
/// </summary>
internal static class VrrpBench
{
    private sealed record Sample(string System, string Config, string Scenario, double GapMs, int Lost);

    public static Command Command()
    {
        var runs = new Option<int>("--runs") { Description = "Runs per scenario", DefaultValueFactory = _ => 10 };
        var configs = new Option<string>("--configs") { Description = "ADVERT_INT:VERSION list", DefaultValueFactory = _ => "1:2 0.1:3" };
        var scenarios = new Option<string>("--scenarios") { Description = "Subset of: host-death crash graceful", DefaultValueFactory = _ => "host-death crash graceful" };
        var systems = new Option<string>("--systems") { Description = "Subset of: keepalived rampart", DefaultValueFactory = _ => "keepalived rampart" };
        var idle = new Option<int>("--idle-seconds") { Description = "Idle CPU sampling time, after 90 s of warm-up", DefaultValueFactory = _ => 30 };
        var output = new Option<string>("--out") { Description = "Results directory", DefaultValueFactory = _ => "bench/results" };
        var command = new Command("vrrp", "VIP failover gap: keepalived vs rampart.") { runs, configs, scenarios, systems, idle, output };
        command.SetAction(async (r, token) =>
        {
            var samples = new List<Sample>();
            var cpu = new List<string>();
            foreach (var config in r.GetValue(configs)!.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var (interval, version) = (config.Split(':')[0], int.Parse(config.Split(':')[1], CultureInfo.InvariantCulture));
                foreach (var system in r.GetValue(systems)!.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    cpu.Add(await IdleCpuAsync(system, interval, version, r.GetValue(idle)));
                    Console.WriteLine(cpu[^1]);
                    foreach (var scenario in r.GetValue(scenarios)!.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                        samples.AddRange(await RunScenarioAsync(system, interval, version, scenario, r.GetValue(runs), token));
                }
            }
            var report = Report(samples, cpu);
            Console.WriteLine(report);
            var file = Path.Combine(r.GetValue(output)!, $"vrrp-{DateTime.UtcNow:yyyyMMdd-HHmmss}.md");
            await File.WriteAllTextAsync(file, report, token);
            Console.WriteLine($"written to {file}");
            return 0;
        });
        return command;
    }

    private static RouterProcess Start(VrrpLab lab, string system, string router, string config) =>
        system == "rampart" ? lab.StartRampart(router, config) : lab.StartKeepalived(router, config);

    private static string ConfigFor(string router, int priority, string interval, int version) =>
        VrrpLab.Config(router, priority, version, interval, state: priority > 100 ? "MASTER" : "BACKUP");

    private static async Task<List<Sample>> RunScenarioAsync(string system, string interval, int version, string scenario, int runs, CancellationToken token)
    {
        var samples = new List<Sample>();
        string config = $"v{version} {interval}s";
        using var lab = new VrrpLab();
        using var sniffer = new AdvertSniffer(lab);
        var r1 = Start(lab, system, "r1", ConfigFor("r1", 150, interval, version));
        var r2 = Start(lab, system, "r2", ConfigFor("r2", 100, interval, version));
        using var prober = lab.Prober(VrrpLab.Vip);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(token);
        var probing = prober.RunAsync(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(50), stop.Token);
        await Steady(prober, "r1", lab);
        for (int run = 1; run <= runs; run++)
        {
            // r2 must have heard r1 for a while, so it is a settled backup (same for both systems). Then the fault
            // strikes 10 ms after one of r1's adverts, seen on the wire by the client: the same point of the
            // advert cycle for both systems, so the gaps compare daemons, not luck.
            await Task.Delay(TimeSpan.FromSeconds(1.5), token);
            await sniffer.NextAdvertFromAsync(IPAddress.Parse("10.213.0.11"), token);
            await Task.Delay(TimeSpan.FromMilliseconds(10), token);
            var faultAt = prober.Elapsed;
            switch (scenario)
            {
                case "host-death": r1.Crash(); lab.Lan.SetLink("r1", up: false); break;
                case "crash": r1.Crash(); break;
                case "graceful": r1.Terminate(TimeSpan.FromSeconds(10)); break;
                default: throw new ArgumentException($"unknown scenario {scenario}");
            }
            await Steady(prober, "r2", lab);
            var failover = UdpProber.Gap(prober.Snapshot(), faultAt);
            samples.Add(new Sample(system, config, scenario, failover.Gap.TotalMilliseconds, failover.Lost));

            await Task.Delay(TimeSpan.FromSeconds(1.5), token);
            var backAt = prober.Elapsed;
            if (scenario == "host-death") lab.Lan.SetLink("r1", up: true);
            r1.Dispose();
            r1 = Start(lab, system, "r1", ConfigFor("r1", 150, interval, version));
            await Steady(prober, "r1", lab);
            // Keep probing a little after r1 answers: a late loss (the old master dropping the VIP) counts too.
            await Task.Delay(TimeSpan.FromSeconds(0.5), token);
            var failback = UdpProber.Gap(prober.Snapshot(), backAt);
            samples.Add(new Sample(system, config, $"failback after {scenario}", failback.Gap.TotalMilliseconds, failback.Lost));
            Console.WriteLine($"{system} {config} {scenario} run {run}: gap {failover.Gap.TotalMilliseconds:0} ms ({failover.Lost} lost); failback gap {failback.Gap.TotalMilliseconds:0} ms ({failback.Lost} lost)");
        }
        stop.Cancel();
        await probing;
        r1.Dispose();
        r2.Dispose();
        return samples;
    }

    private static Task Steady(UdpProber prober, string router, VrrpLab lab) =>
        Wait.UntilAsync(() => prober.LastResponder == router, TimeSpan.FromSeconds(30), $"{router} answering\n{lab.Outputs()}");

    /// <summary>
    /// CPU time of the two routers' daemons (every thread, also short-lived ones) over an idle period, in % of one
    /// core, counted by `perf stat -e task-clock`: /proc's tick counters charge a whole 10 ms tick to whoever is
    /// running at the tick, far too coarse for daemons that use microseconds per second.
    /// </summary>
    private static async Task<string> IdleCpuAsync(string system, string interval, int version, int seconds)
    {
        using var lab = new VrrpLab();
        var r1 = Start(lab, system, "r1", ConfigFor("r1", 150, interval, version));
        var r2 = Start(lab, system, "r2", ConfigFor("r2", 100, interval, version));
        await Wait.UntilAsync(() => lab.Ask(VrrpLab.Vip) == "r1", TimeSpan.FromSeconds(30), "r1 answering");
        // Steady state: .NET recompiles hot methods in the background (tiered compilation); with one advert a
        // second that takes over a minute, and costs ten times the steady-state CPU meanwhile.
        await Task.Delay(TimeSpan.FromSeconds(90));
        var pids = new[] { "r1", "r2" }.SelectMany(router => lab.Lan[router].Pids())
            .Where(pid => !File.ReadAllText($"/proc/{pid}/cmdline").Contains("echo", StringComparison.Ordinal)).ToList();
        var start = new ProcessStartInfo("perf") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "stat", "-x", ",", "-e", "task-clock", "-p", string.Join(",", pids), "--", "sleep", seconds.ToString(CultureInfo.InvariantCulture) })
            start.ArgumentList.Add(arg);
        using var perf = Process.Start(start)!;
        string output = await perf.StandardError.ReadToEndAsync();
        await perf.WaitForExitAsync();
        var line = output.Split('\n').FirstOrDefault(l => l.Contains("task-clock", StringComparison.Ordinal));
        if (line is null || !double.TryParse(line.Split(',')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double ms))
            return $"idle CPU {system}: perf stat failed: {output.Trim()}";
        return $"idle CPU {system} v{version} {interval}s: {100 * ms / 1000 / seconds:0.000}% of one core (both routers, perf task-clock over {seconds} s after 90 s of warm-up)";
    }

    private static string Report(List<Sample> samples, List<string> cpu)
    {
        var text = new StringBuilder();
        text.AppendLine($"# VRRP failover gap, keepalived vs rampart ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)");
        text.AppendLine();
        text.AppendLine("Client-observed service gap: one UDP probe to the VIP every 10 ms (50 ms timeout). Backup priority 100, master 150.");
        text.AppendLine("Faults strike 10 ms after one of the master's adverts, so host death and crash gaps should sit near the bound minus 10 ms.");
        text.AppendLine();
        text.AppendLine("| config | scenario | keepalived median (min-max) ms | rampart median (min-max) ms | ratio k/r | lost probes k / r | protocol bound ms |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var group in samples.GroupBy(s => (s.Config, s.Scenario)))
        {
            var k = group.Where(s => s.System == "keepalived").ToList();
            var r = group.Where(s => s.System == "rampart").ToList();
            double interval = double.Parse(group.Key.Config.Split(' ')[1].TrimEnd('s'), CultureInfo.InvariantCulture);
            bool v3 = group.Key.Config.StartsWith("v3", StringComparison.Ordinal);
            double skew = v3 ? 156 / 256.0 * interval : 156 / 256.0;
            string bound = group.Key.Scenario switch
            {
                "host-death" or "crash" => $"{1000 * (3 * interval + skew):0}",
                "graceful" => $"{1000 * skew:0}",
                _ => "-",
            };
            string ratio = k.Count > 0 && r.Count > 0 && Median(r) > 0 ? $"{Median(k) / Median(r):0.00}" : "-";
            text.AppendLine($"| {group.Key.Config} | {group.Key.Scenario} | {Describe(k)} | {Describe(r)} | {ratio} | {k.Sum(s => s.Lost)} / {r.Sum(s => s.Lost)} | {bound} |");
        }
        text.AppendLine();
        foreach (var line in cpu) text.AppendLine($"- {line}");
        return text.ToString();
    }

    private static double Median(List<Sample> s)
    {
        var sorted = s.Select(x => x.GapMs).Order().ToList();
        return sorted.Count == 0 ? 0 : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string Describe(List<Sample> s) =>
        s.Count == 0 ? "-" : $"{Median(s):0} ({s.Min(x => x.GapMs):0}-{s.Max(x => x.GapMs):0})";
}

/// <summary>Watches the VRRP multicast group from the client namespace and timestamps each advert by its sender.</summary>
internal sealed class AdvertSniffer : IDisposable
{
    private readonly VrrpSocket _socket;
    private readonly Thread _thread;
    private readonly Lock _gate = new();
    private readonly Dictionary<IPAddress, long> _count = new();

    public AdvertSniffer(VrrpLab lab)
    {
        _socket = lab.Lan["c"].Enter(() => VrrpSocket.Open(AddressFamily.InterNetwork, "eth0", null, joinMulticast: true));
        _thread = new Thread(Run) { IsBackground = true, Name = "advert sniffer" };
        _thread.Start();
    }

    private void Run()
    {
        try
        {
            while (true)
            {
                var datagram = _socket.Receive();
                lock (_gate) _count[datagram.Source] = _count.GetValueOrDefault(datagram.Source) + 1;
            }
        }
        catch (ObjectDisposedException) { }
    }

    /// <summary>Returns right after the next advert from <paramref name="source"/> arrives.</summary>
    public async Task NextAdvertFromAsync(IPAddress source, CancellationToken token)
    {
        long Seen() { lock (_gate) return _count.GetValueOrDefault(source); }
        long before = Seen();
        var clock = Stopwatch.StartNew();
        while (Seen() == before)
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(10)) throw new TimeoutException($"no advert from {source}");
            await Task.Delay(1, token);
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _thread.Join();
    }
}
