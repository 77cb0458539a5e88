using System.CommandLine;
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
        run.SetAction((result, token) => Foreground.RunAsync("mon run",
            () => MonitorConfig.FromConf(RampartConf.Load(RampartConf.Resolve(result.GetValue(conf))), result.GetValue(id)!),
            config => $"mon.{config.Name} on {config.Address}", result.GetValue(verbose),
            MonitorDaemon.StartAsync, daemon => daemon.DisposeAsync().AsTask(), token));
        return run;
    }
}
