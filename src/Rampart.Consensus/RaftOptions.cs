using System.Net;

namespace Rampart.Consensus;

/// <summary>Configuration of one Raft member with a static member list.</summary>
public sealed record RaftOptions
{
    /// <summary>This node's endpoint; it is also its identity, and must appear in <see cref="Members"/>.</summary>
    public required IPEndPoint LocalEndPoint { get; init; }

    /// <summary>Every member of the cluster, this node included.</summary>
    public required IReadOnlyList<IPEndPoint> Members { get; init; }

    /// <summary>Directory holding the write-ahead log and snapshots; reused on restart.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>Lower bound of the randomised election timeout.</summary>
    public TimeSpan LowerElectionTimeout { get; init; } = TimeSpan.FromMilliseconds(150);

    /// <summary>Upper bound of the randomised election timeout.</summary>
    public TimeSpan UpperElectionTimeout { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>A snapshot is persisted after this many applied commands.</summary>
    public int SnapshotEvery { get; init; } = 1000;

    /// <summary>Size of one write-ahead-log chunk file.</summary>
    public int LogChunkSize { get; init; } = 1 << 20;

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(LocalEndPoint);
        ArgumentNullException.ThrowIfNull(Members);
        ArgumentException.ThrowIfNullOrEmpty(DataDirectory);
        if (!Members.Contains(LocalEndPoint))
            throw new ArgumentException($"raft: local endpoint {LocalEndPoint} is not in the member list ({string.Join(", ", Members)}); add it.", nameof(Members));
        if (Members.Distinct().Count() != Members.Count)
            throw new ArgumentException($"raft: member list has duplicates ({string.Join(", ", Members)}).", nameof(Members));
        if (LowerElectionTimeout <= TimeSpan.Zero || UpperElectionTimeout <= LowerElectionTimeout)
            throw new ArgumentException($"raft: election timeout range {LowerElectionTimeout.TotalMilliseconds}-{UpperElectionTimeout.TotalMilliseconds} ms is invalid; need 0 < lower < upper.");
        if (SnapshotEvery <= 0)
            throw new ArgumentException($"raft: SnapshotEvery {SnapshotEvery} must be positive.", nameof(SnapshotEvery));
    }
}
