using Microsoft.Extensions.Logging;

namespace Rampart.Rbd.Nbd;

/// <summary>The NBD server's log messages; event ids 5001–5099 belong to NBD. Expected disconnects are Debug.</summary>
internal static partial class NbdLog
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "nbd: listening on {Endpoint}")]
    public static partial void Listening(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "nbd: accepting a connection failed: {Reason}")]
    public static partial void AcceptFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Debug, Message = "nbd {Remote}: connected")]
    public static partial void Opened(ILogger logger, string remote);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Debug, Message = "nbd {Remote}: closed ({Reason})")]
    public static partial void Closed(ILogger logger, string remote, string reason);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Debug, Message = "nbd {Remote}: serving export {Export} ({Size} bytes, read-only {ReadOnly})")]
    public static partial void Serving(ILogger logger, string remote, string export, long size, bool readOnly);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Debug, Message = "nbd {Remote}: export {Export} refused: {Reason}")]
    public static partial void ExportRefused(ILogger logger, string remote, string export, string reason);

    [LoggerMessage(EventId = 5007, Level = LogLevel.Warning, Message = "nbd {Remote}: malformed {What} ({Reason}); closing the connection")]
    public static partial void Malformed(ILogger logger, string remote, string what, NbdMalformed reason);

    [LoggerMessage(EventId = 5008, Level = LogLevel.Debug, Message = "nbd {Remote}: handshake not finished within {Seconds} s; closing the connection")]
    public static partial void HandshakeTimedOut(ILogger logger, string remote, double seconds);

    [LoggerMessage(EventId = 5009, Level = LogLevel.Debug, Message = "nbd {Remote}: export {Export}: {Command} offset {Offset} length {Length} refused with errno {Errno}")]
    public static partial void Refused(ILogger logger, string remote, string export, NbdCommand command, ulong offset, uint length, uint errno);

    [LoggerMessage(EventId = 5010, Level = LogLevel.Warning, Message = "nbd {Remote}: export {Export}: {Command} offset {Offset} length {Length} failed, errno {Errno}")]
    public static partial void DeviceFailed(ILogger logger, Exception exception, string remote, string export, NbdCommand command, ulong offset, uint length, uint errno);

    [LoggerMessage(EventId = 5011, Level = LogLevel.Debug, Message = "nbd {Remote}: export {Export}: {Command} offset {Offset} length {Length} failed, errno {Errno}: {Reason}")]
    public static partial void DeviceFailedAgain(ILogger logger, string remote, string export, NbdCommand command, ulong offset, uint length, uint errno, string reason);

    [LoggerMessage(EventId = 5013, Level = LogLevel.Debug, Message = "nbd {Remote}: malformed {What} ({Reason}); closing the connection")]
    public static partial void MalformedAgain(ILogger logger, string remote, string what, NbdMalformed reason);

    [LoggerMessage(EventId = 5012, Level = LogLevel.Error, Message = "nbd {Remote}: unexpected failure; closing the connection")]
    public static partial void Unexpected(ILogger logger, Exception exception, string remote);
}
