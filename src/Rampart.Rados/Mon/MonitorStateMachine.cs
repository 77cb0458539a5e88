using System.Collections.Concurrent;
using Rampart.Consensus;
using Rampart.Rados.Maps;

namespace Rampart.Rados.Mon;

/// <summary>
/// <see cref="MonitorState"/> behind Raft: each log entry is a <see cref="MonCommandCodec"/> command.
/// Results are kept by log index for a while so the proposer can return them to its client.
/// </summary>
public sealed class MonitorStateMachine(MonitorState initial) : IReplicatedStateMachine
{
    // A proposer reads its result right after ProposeAsync returns; older ones are only memory.
    private const int KeptResults = 1024;

    private readonly ConcurrentDictionary<long, MonResult> _results = new();
    private volatile MonitorState _state = initial;

    public MonitorState State => _state;

    /// <summary>Raised on the applier thread when a command (or a restore) produced a new map epoch.</summary>
    public event Action<ClusterMap>? MapCommitted;

    public void Apply(long index, ReadOnlySpan<byte> command)
    {
        MonResult result;
        var before = _state;
        try
        {
            (var next, result) = before.Apply(MonCommandCodec.Decode(command));
            _state = next;
        }
        catch (FormatException e)
        {
            // Every monitor refuses the same undecodable entry the same way.
            result = MonResult.Error("EINVAL", e.Message);
        }
        _results[index] = result;
        _results.TryRemove(index - KeptResults, out _);
        if (_state.Map.Epoch != before.Map.Epoch)
            MapCommitted?.Invoke(_state.Map);
    }

    /// <summary>The result of the command at <paramref name="index"/>, if this monitor applied it recently.</summary>
    public MonResult? ResultOf(long index) => _results.TryGetValue(index, out var result) ? result : null;

    public byte[] Snapshot() => _state.Snapshot();

    public void Restore(ReadOnlySpan<byte> snapshot)
    {
        _state = MonitorState.Restore(snapshot);
        MapCommitted?.Invoke(_state.Map);
    }
}
