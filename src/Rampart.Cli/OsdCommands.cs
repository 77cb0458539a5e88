using System.CommandLine;
using System.Globalization;
using Rampart.Rados.Config;
using Rampart.Rados.Osd;

namespace Rampart.Cli;

/// <summary>`rampart osd run`: one OSD daemon in the foreground.</summary>
internal static class OsdCommands
{
    public static Command BuildRun()
    {
        var id = new Option<string>("--id", "-i") { Description = "OSD number: its [osd.N] section in the conf", Required = true };
        var conf = AdminCommands.ConfOption();
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log debug details too" };
        var run = new Command("run", "Run an OSD in the foreground (Ctrl-C or SIGTERM stops it, telling the monitors first).") { id, conf, verbose };
        run.SetAction((result, token) => Foreground.RunAsync("osd run",
            () =>
            {
                string text = result.GetValue(id)!;
                return int.TryParse(text.StartsWith("osd.", StringComparison.Ordinal) ? text[4..] : text, NumberStyles.None, CultureInfo.InvariantCulture, out int n)
                    ? OsdConfig.FromConf(RampartConf.Load(RampartConf.Resolve(result.GetValue(conf))), n)
                    : throw new FormatException($"--id '{text}' is not an OSD number");
            },
            config => $"osd.{config.Id} on {config.Address}", result.GetValue(verbose),
            OsdDaemon.StartAsync, daemon => daemon.StopAsync(), token));
        return run;
    }
}
