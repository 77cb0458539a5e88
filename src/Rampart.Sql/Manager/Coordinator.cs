using System.Net;
using Microsoft.Extensions.Logging;
using Rampart.Consensus;
using Rampart.Sql.Config;

namespace Rampart.Sql.Manager;

/// <summary>Who may act, and the shared state the actor writes: one manager alone, or a Raft group of them.</summary>
public interface ICoordinator : IAsyncDisposable
{
    bool IsLeader { get; }

    /// <summary>The leading manager's name, null during an election.</summary>
    string? Leader { get; }

    ManagerState State { get; }

    /// <summary>Commits a command (applied to <see cref="State"/> on return). Throws <see cref="NotLeaderException"/> when this manager may not act.</summary>
    Task ProposeAsync(ManagerCommand command, CancellationToken cancellationToken);

    /// <summary>Waits until <see cref="State"/> holds everything committed so far (a new leader reads before it acts).</summary>
    Task BarrierAsync(CancellationToken cancellationToken);
}

/// <summary>A single manager: always the leader, commands applied at once, nothing persisted.</summary>
public sealed class SoloCoordinator(string name) : ICoordinator
{
    private long _index;

    public bool IsLeader => true;
    public string? Leader => name;
    public ManagerState State { get; } = new();

    public Task ProposeAsync(ManagerCommand command, CancellationToken cancellationToken)
    {
        State.Apply(Interlocked.Increment(ref _index), ManagerState.Encode(command));
        return Task.CompletedTask;
    }

    public Task BarrierAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>Managers in a Raft group (Rampart.Consensus): only the leader acts, and only after its commands commit on a majority.</summary>
public sealed class RaftCoordinator : ICoordinator
{
    private readonly RaftNode _node;
    private readonly Dictionary<IPEndPoint, string> _names;

    private RaftCoordinator(RaftNode node, ManagerState state, Dictionary<IPEndPoint, string> names)
    {
        _node = node;
        State = state;
        _names = names;
    }

    public static async Task<RaftCoordinator> StartAsync(SqlConfig config, string name, ILoggerFactory logs, CancellationToken cancellationToken)
    {
        var me = config.Managers.First(m => m.Name == name);
        var state = new ManagerState();
        var node = await RaftNode.StartAsync(new RaftOptions
        {
            LocalEndPoint = me.RaftAddress,
            Members = [.. config.Managers.Select(m => m.RaftAddress)],
            DataDirectory = config.ManagerData.Replace("$id", name, StringComparison.Ordinal),
        }, state, logs, cancellationToken).ConfigureAwait(false);
        return new RaftCoordinator(node, state, config.Managers.ToDictionary(m => m.RaftAddress, m => m.Name));
    }

    public bool IsLeader => _node.IsLeader;
    public string? Leader => _node.Leader is { } ep && _names.TryGetValue(ep, out var n) ? n : null;
    public ManagerState State { get; }

    public async Task ProposeAsync(ManagerCommand command, CancellationToken cancellationToken) =>
        await _node.ProposeAsync(ManagerState.Encode(command), cancellationToken).ConfigureAwait(false);

    public async Task BarrierAsync(CancellationToken cancellationToken) => await _node.ReadBarrierAsync(cancellationToken).ConfigureAwait(false);

    public ValueTask DisposeAsync() => _node.DisposeAsync();
}
