using Microsoft.Extensions.Logging;

namespace Rampart.Common.AdminSocket;

/// <summary>The admin socket's log messages; event ids 9001–9099 belong to it.</summary>
internal static partial class AdminSocketLog
{
    [LoggerMessage(EventId = 9001, Level = LogLevel.Information, Message = "admin socket: answering on {Path}")]
    public static partial void Listening(ILogger logger, string path);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Warning, Message = "admin socket {Path}: accepting a connection failed: {Reason}")]
    public static partial void AcceptFailed(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 9003, Level = LogLevel.Debug, Message = "admin socket {Path}: client: {Reason}")]
    public static partial void ClientFailed(ILogger logger, string path, string reason);

    [LoggerMessage(EventId = 9004, Level = LogLevel.Warning, Message = "admin socket {Path}: '{Command}' failed")]
    public static partial void CommandFailed(ILogger logger, Exception exception, string path, string command);

    [LoggerMessage(EventId = 9005, Level = LogLevel.Warning, Message = "admin socket {Path}: cannot remove the socket file: {Reason}")]
    public static partial void RemoveFailed(ILogger logger, string path, string reason);
}
