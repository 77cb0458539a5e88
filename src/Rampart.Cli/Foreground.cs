using Microsoft.Extensions.Logging;
using Rampart.Common.Config;
using Rampart.Rados.Client;

namespace Rampart.Cli;

/// <summary>The shared body of `mon run` and `osd run`: read the conf, start the daemon, run until Ctrl-C or SIGTERM, stop it.</summary>
internal static class Foreground
{
    public static async Task<int> RunAsync<TConfig, TDaemon>(string command, Func<TConfig> load, Func<TConfig, string> describe, bool verbose,
        Func<TConfig, ILoggerFactory, CancellationToken, Task<TDaemon>> start, Func<TDaemon, Task> stop, CancellationToken token)
    {
        TConfig config;
        try
        {
            config = load();
        }
        catch (Exception e) when (e is ConfigException or FormatException or IOException)
        {
            Console.Error.WriteLine($"rampart {command}: {e.Message}");
            return 1;
        }
        string name = describe(config);
        using var logs = Logs.Create(verbose ? LogLevel.Debug : LogLevel.Information);
        var log = logs.CreateLogger(command.Split(' ')[0]);
        TDaemon daemon;
        try
        {
            daemon = await start(config, logs, token);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or UnauthorizedAccessException
            or MonClientException or InvalidOperationException or RocksDbSharp.RocksDbException)
        {
            Console.Error.WriteLine($"rampart {command}: {name} cannot start: {e.Message}");
            return 1;
        }
        try
        {
            await Task.Delay(Timeout.Infinite, token);
        }
        catch (OperationCanceledException)
        {
            log.LogInformation("{Name}: stopping", name);
        }
        await stop(daemon);
        log.LogInformation("{Name}: stopped", name);
        return 0;
    }
}
