using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Rampart.Cli;

internal static class Logs
{
    /// <summary>One line per event with a millisecond timestamp: transitions are read by humans and by tests.</summary>
    public static ILoggerFactory Create(LogLevel level) => LoggerFactory.Create(b => b
        .SetMinimumLevel(level)
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.UseUtcTimestamp = false;
            o.ColorBehavior = LoggerColorBehavior.Disabled;
        }));
}
