using Microsoft.Extensions.Logging;

namespace Rampart.Rbd.Cache;

/// <summary>The writeback cache's log messages; event ids 5101–5199 belong to it.</summary>
internal static partial class CacheLog
{
    [LoggerMessage(EventId = 5101, Level = LogLevel.Warning,
        Message = "rbd cache {Image}: writing back {Bytes} bytes at {Offset} failed; the bytes stay cached, are written again, and the next FLUSH reports the failure")]
    public static partial void WritebackFailed(ILogger logger, Exception exception, string image, int bytes, long offset);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Debug, Message = "rbd cache {Image}: writing back {Bytes} bytes at {Offset} failed again: {Reason}")]
    public static partial void WritebackFailedAgain(ILogger logger, string image, int bytes, long offset, string reason);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Error, Message = "rbd cache {Image}: closed with {Bytes} acknowledged bytes that could not be written out; they are lost")]
    public static partial void LostOnClose(ILogger logger, Exception exception, string image, long bytes);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Information, Message = "rbd cache {Image}: opened (writeback, {Size} bytes, max dirty {MaxDirty}, target dirty {TargetDirty}, max dirty age {MaxDirtyAge} s, write-through until flush {WritethroughUntilFlush})")]
    public static partial void Opened(ILogger logger, string image, long size, long maxDirty, long targetDirty, double maxDirtyAge, bool writethroughUntilFlush);

    [LoggerMessage(EventId = 5106, Level = LogLevel.Error, Message = "rbd cache {Image}: the background flusher failed; buffered bytes are written out on close")]
    public static partial void FlusherFailed(ILogger logger, Exception exception, string image);

    [LoggerMessage(EventId = 5105, Level = LogLevel.Debug, Message = "rbd cache {Image}: closed")]
    public static partial void Closed(ILogger logger, string image);
}
