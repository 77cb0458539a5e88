using System.Net;

namespace Rampart.Consensus;

/// <summary>A proposal reached a node that is not the leader; <see cref="Leader"/> says where to redirect, when known.</summary>
public sealed class NotLeaderException : InvalidOperationException
{
    public NotLeaderException(IPEndPoint? leader, Exception? inner = null)
        : base(leader is null ? "This node is not the leader and no leader is known." : $"This node is not the leader; the leader is {leader}.", inner)
        => Leader = leader;

    public NotLeaderException()
        : this((IPEndPoint?)null)
    {
    }

    public NotLeaderException(string message)
        : base(message)
    {
    }

    public NotLeaderException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>The current leader's endpoint, or null during an election.</summary>
    public IPEndPoint? Leader { get; }
}
