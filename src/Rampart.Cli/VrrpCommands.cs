using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Rampart.Common.Config;
using Rampart.Vrrp.Config;
using Rampart.Vrrp.Daemon;

namespace Rampart.Cli;

internal static partial class VrrpCommands
{
    private const string DefaultConfig = "/etc/keepalived/keepalived.conf";

    public static Command Build()
    {
        var vrrp = new Command("vrrp", "Virtual-IP failover with VRRP v2/v3, configured by keepalived.conf.");
        vrrp.Subcommands.Add(BuildRun());
        vrrp.Subcommands.Add(BuildCheck());
        vrrp.Subcommands.Add(BuildStatus());
        return vrrp;
    }

    private static Option<FileInfo> ConfigOption() => new("--use-file", "-f")
    {
        Description = $"keepalived.conf to read (default {DefaultConfig})",
        DefaultValueFactory = _ => new FileInfo(DefaultConfig),
    };

    private static Option<string> ControlOption() => new("--control-socket")
    {
        Description = $"Unix socket of the running daemon (default {ControlSocket.DefaultPath})",
        DefaultValueFactory = _ => ControlSocket.DefaultPath,
    };

    private static Command BuildRun()
    {
        var file = ConfigOption();
        var control = ControlOption();
        var pidFile = new Option<FileInfo?>("--pid-file") { Description = "Write the daemon's pid here (removed on exit)" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details too" };
        var run = new Command("run", "Run the VRRP daemon in the foreground (SIGTERM: graceful stop, SIGHUP: reload).") { file, control, pidFile, verbose };
        run.SetAction(async (result, token) =>
        {
            var path = result.GetValue(file)!.FullName;
            var parsed = KeepalivedConfigParser.ParseFile(path);
            foreach (var d in parsed.Diagnostics) Console.Error.WriteLine(d);
            if (parsed.Config is not { } config) return 1;

            using var logs = Logs.Create(result.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information);
            var log = logs.CreateLogger("vrrp");
            var pid = result.GetValue(pidFile);
            if (pid is not null) await File.WriteAllTextAsync(pid.FullName, $"{Environment.ProcessId}\n", token);
            try
            {
                using var daemon = new VrrpDaemon(config, path, new LinuxVrrpHost(), log);
                // Started under nohup (or by an init that ignores SIGHUP), the daemon inherits SIG_IGN, which .NET leaves
                // in place: SIGHUP means reload here, so take it back first (smartd does the same).
                signal(1, 0);   // SIGHUP, SIG_DFL
                using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, ctx => { ctx.Cancel = true; daemon.Reload(); });
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(token);
                var controlTask = ControlSocket.ServeAsync(result.GetValue(control)!, daemon, log, stop.Token);
                log.LogInformation("rampart vrrp {Pid}: {Count} instance(s) from {File}", Environment.ProcessId, config.Instances.Count, path);
                await daemon.RunAsync(token);
                stop.Cancel();
                await controlTask;
                log.LogInformation("stopped");
                return 0;
            }
            finally
            {
                if (pid is not null) File.Delete(pid.FullName);
            }
        });
        return run;
    }

    private static Command BuildCheck()
    {
        var file = ConfigOption();
        var check = new Command("check", "Check a keepalived.conf: exit 0 with a summary, or 1 with every error.") { file };
        check.SetAction(result =>
        {
            var parsed = KeepalivedConfigParser.ParseFile(result.GetValue(file)!.FullName);
            foreach (var d in parsed.Diagnostics) Console.Error.WriteLine(d);
            if (parsed.Config is not { } config)
            {
                Console.Error.WriteLine($"{parsed.Diagnostics.Count(d => d.Severity == Severity.Error)} error(s)");
                return 1;
            }
            Console.WriteLine($"configuration OK: {config.Instances.Count} vrrp_instance, {config.Scripts.Count} vrrp_script, {config.SyncGroups.Count} vrrp_sync_group");
            foreach (var i in config.Instances)
            {
                string mode = i.UnicastPeers.Count > 0 ? $"unicast to {string.Join(",", i.UnicastPeers)}" : "multicast";
                Console.WriteLine($"  {i.Name}: VRRPv{i.Version} vrid {i.VirtualRouterId} on {i.Interface}, priority {i.Priority}, advert_int {i.AdvertInterval.TotalSeconds:0.##}s, {(i.Preempt ? "preempt" : "nopreempt")}, {mode}, VIPs {string.Join(" ", i.VirtualAddresses)}");
            }
            return 0;
        });
        return check;
    }

    private static Command BuildStatus()
    {
        var control = ControlOption();
        var json = new Option<bool>("--json") { Description = "Print the daemon's JSON status" };
        var status = new Command("status", "Show each VRRP instance of a running daemon: state, priority, master, counters.") { control, json };
        status.SetAction(async (result, token) =>
        {
            string answer;
            var path = result.GetValue(control)!;
            try { answer = await ControlSocket.RequestAsync(path, "status", token); }
            catch (System.Net.Sockets.SocketException e)
            {
                Console.Error.WriteLine($"rampart vrrp status: no daemon answers on {path} ({e.Message})");
                return 1;
            }
            if (result.GetValue(json)) { Console.WriteLine(answer); return 0; }
            var daemon = JsonSerializer.Deserialize<DaemonStatus>(answer, ControlSocket.Json)!;
            Console.WriteLine($"rampart vrrp pid {daemon.Pid}, {daemon.ConfigFile}, up since {daemon.Started.ToLocalTime():yyyy-MM-dd HH:mm:ss}");
            foreach (var i in daemon.Instances)
            {
                string invalid = i.InvalidPackets.Count == 0 ? "none" : string.Join(", ", i.InvalidPackets.Select(kv => $"{kv.Key} {kv.Value}"));
                Console.WriteLine();
                Console.WriteLine($"{i.Name}: {i.State} since {i.Since.ToLocalTime():HH:mm:ss.fff} ({i.Reason}; {i.Transitions} transitions)");
                Console.WriteLine($"  VRRPv{i.Version} vrid {i.VirtualRouterId} on {i.Interface}{(i.SyncGroup is null ? "" : $", sync group {i.SyncGroup}")}; VIPs {string.Join(" ", i.VirtualAddresses)}");
                Console.WriteLine($"  priority {i.EffectivePriority} (base {i.BasePriority}); master {i.MasterAddress ?? "unknown"} priority {i.MasterPriority}");
                Console.WriteLine($"  adverts sent {i.AdvertsSent} received {i.AdvertsReceived}; priority 0 sent {i.PriorityZeroSent} received {i.PriorityZeroReceived}; invalid: {invalid}");
            }
            if (daemon.UnmatchedPackets.Count > 0)
                Console.WriteLine($"\npackets for no instance: {string.Join(", ", daemon.UnmatchedPackets.Select(kv => $"{kv.Key} {kv.Value}"))}");
            return 0;
        });
        return status;
    }

    [System.Runtime.InteropServices.LibraryImport("libc")]
    private static partial nint signal(int signum, nint handler);
}
