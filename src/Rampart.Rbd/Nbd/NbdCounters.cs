using System.Diagnostics.Metrics;

namespace Rampart.Rbd.Nbd;

/// <summary>
/// What one server has seen, also published on the "Rampart.Nbd" meter (summed over servers there).
/// Requests counts every transmission request read; Errors every request answered with an error;
/// Malformed every connection closed for breaking the protocol.
/// </summary>
public sealed class NbdCounters
{
    private static readonly Meter Meter = new("Rampart.Nbd");
    private static readonly Counter<long> ConnectionsMetric = Meter.CreateCounter<long>("rampart.nbd.connections", description: "NBD connections accepted");
    private static readonly Counter<long> RequestsMetric = Meter.CreateCounter<long>("rampart.nbd.requests", description: "NBD requests received");
    private static readonly Counter<long> ErrorsMetric = Meter.CreateCounter<long>("rampart.nbd.errors", description: "NBD requests answered with an error");
    private static readonly Counter<long> MalformedMetric = Meter.CreateCounter<long>("rampart.nbd.malformed", description: "NBD connections closed for malformed input");

    private long _connections, _requests, _errors, _malformed;

    public long Connections => Interlocked.Read(ref _connections);

    public long Requests => Interlocked.Read(ref _requests);

    public long Errors => Interlocked.Read(ref _errors);

    public long Malformed => Interlocked.Read(ref _malformed);

    internal void Connection()
    {
        Interlocked.Increment(ref _connections);
        ConnectionsMetric.Add(1);
    }

    internal void Request(NbdCommand command)
    {
        Interlocked.Increment(ref _requests);
        RequestsMetric.Add(1, new KeyValuePair<string, object?>("command", CommandName(command)));
    }

    internal void Error(uint errno)
    {
        Interlocked.Increment(ref _errors);
        ErrorsMetric.Add(1, new KeyValuePair<string, object?>("errno", (int)errno));
    }

    internal void MalformedInput(NbdMalformed reason)
    {
        Interlocked.Increment(ref _malformed);
        MalformedMetric.Add(1, new KeyValuePair<string, object?>("reason", reason.ToString()));
    }

    /// <summary>A fixed set of tag values, so a client sending random command numbers cannot grow the metric's series.</summary>
    private static string CommandName(NbdCommand command) => command switch
    {
        NbdCommand.Read => "read",
        NbdCommand.Write => "write",
        NbdCommand.Disc => "disc",
        NbdCommand.Flush => "flush",
        NbdCommand.Trim => "trim",
        NbdCommand.WriteZeroes => "write_zeroes",
        NbdCommand.BlockStatus => "block_status",
        _ => "other",
    };
}
