using System.CommandLine;
using Microsoft.Extensions.Logging;
using Rampart.Rados.Config;
using Rampart.Rados.Mon;

namespace Rampart.Cli;

/// <summary>`rampart mon run`: one monitor daemon in the foreground.</summary>
internal static class MonCommands
{
    public static Command Build()
    {
        var mon = new Command("mon", "Storage cluster monitors (cluster map and auth, replicated with Raft).");
        mon.Subcommands.Add(BuildRun());
        return mon;
    }

    private static Command BuildRun()
    {
        var id = new Option<string>("--id", "-i") { Description = "Monitor name: its [mon.NAME] section in the conf", Required = true };
        var conf = AdminCommands.ConfOption();
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details too" };
        var run = new Command("run", "Run a monitor in the foreground (Ctrl-C or SIGTERM stops it). A new cluster forms when the monitors of the conf first meet.") { id, conf, verbose };
        run.SetAction(async (result, token) =>
        {
            MonitorConfig config;
            try
            {
                config = MonitorConfig.FromConf(RampartConf.Load(RampartConf.Resolve(result.GetValue(conf))), result.GetValue(id)!);
            }
            catch (Exception e) when (e is Rampart.Common.Config.ConfigException or FormatException or IOException)
            {
                Console.Error.WriteLine($"rampart mon run: {e.Message}");
                return 1;
            }
            using var logs = Logs.Create(result.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information);
            var log = logs.CreateLogger("mon");
            MonitorDaemon daemon;
            try
            {
                daemon = await MonitorDaemon.StartAsync(config, logs, token);
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"rampart mon run: mon.{config.Name} cannot start on {config.Address}: {e.Message}");
                return 1;
            }
            await using (daemon)
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, token);
                }
                catch (OperationCanceledException)
                {
                    log.LogInformation("mon.{Name}: stopping", config.Name);
                }
            }
            log.LogInformation("mon.{Name}: stopped", config.Name);
            return 0;
        });
        return run;
    }
}
