namespace Rampart.Rbd.Nbd;

/// <summary>
/// At most one warning per interval for one kind of event, so a port scanner or a dead disk cannot flood the log;
/// the rest go out at Debug.
/// </summary>
internal sealed class WarningGate(TimeSpan interval, TimeProvider time)
{
    private long _next = long.MinValue;

    public bool TryPass()
    {
        long now = time.GetTimestamp();
        long next = Interlocked.Read(ref _next);
        return now >= next && Interlocked.CompareExchange(ref _next, now + (long)(interval.TotalSeconds * time.TimestampFrequency), next) == next;
    }
}
