using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Rampart.Rados.Client;
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
        run.SetAction(async (result, token) =>
        {
            OsdConfig config;
            try
            {
                string text = result.GetValue(id)!;
                if (!int.TryParse(text.StartsWith("osd.", StringComparison.Ordinal) ? text[4..] : text, NumberStyles.None, CultureInfo.InvariantCulture, out int n))
                    throw new FormatException($"--id '{text}' is not an OSD number");
                config = OsdConfig.FromConf(RampartConf.Load(RampartConf.Resolve(result.GetValue(conf))), n);
            }
            catch (Exception e) when (e is Rampart.Common.Config.ConfigException or FormatException or IOException)
            {
                Console.Error.WriteLine($"rampart osd run: {e.Message}");
                return 1;
            }
            using var logs = Logs.Create(result.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information);
            var log = logs.CreateLogger("osd");
            OsdDaemon daemon;
            try
            {
                daemon = await OsdDaemon.StartAsync(config, logs, token);
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or UnauthorizedAccessException or MonClientException or InvalidOperationException or RocksDbSharp.RocksDbException)
            {
                Console.Error.WriteLine($"rampart osd run: osd.{config.Id} cannot start on {config.Address}: {e.Message}");
                return 1;
            }
            try
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            catch (OperationCanceledException)
            {
                log.LogInformation("osd.{Id}: stopping", config.Id);
            }
            await daemon.StopAsync();
            log.LogInformation("osd.{Id}: stopped", config.Id);
            return 0;
        });
        return run;
    }
}
