using System.Buffers;
using DotNext.IO;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;

namespace Rampart.Consensus;

/// <summary>
/// Bridges DotNext's <see cref="SimpleStateMachine"/> (snapshot files, applied index) to an
/// <see cref="IReplicatedStateMachine"/>. DotNext calls ApplyAsync from a single applier.
/// </summary>
internal sealed class ReplicatedStateMachineAdapter : SimpleStateMachine
{
    private readonly IReplicatedStateMachine _machine;
    private readonly int _snapshotEvery;
    private int _sinceSnapshot;
    private byte[]? _pendingSnapshot;
    private long _lastAppliedIndex;
    private long _lastSnapshotIndex;

    public ReplicatedStateMachineAdapter(DirectoryInfo location, IReplicatedStateMachine machine, int snapshotEvery)
        : base(location)
    {
        _machine = machine;
        _snapshotEvery = snapshotEvery;
    }

    public long LastAppliedIndex => Volatile.Read(ref _lastAppliedIndex);

    /// <summary>Index covered by the latest snapshot this node took or restored (0 = none).</summary>
    public long LastSnapshotIndex => Volatile.Read(ref _lastSnapshotIndex);

    protected override ValueTask<bool> ApplyAsync(LogEntry entry, CancellationToken token)
    {
        // Configuration entries and the leader's empty term-start entry carry no command.
        if (!entry.IsConfiguration && entry.Length is not 0L)
        {
            if (!entry.TryGetPayload(out var payload))
                throw new InvalidOperationException($"raft: log entry {entry.Index} has no readable payload.");
            if (payload.IsSingleSegment)
                _machine.Apply(entry.Index, payload.FirstSpan);
            else
                _machine.Apply(entry.Index, payload.ToArray());
        }

        Volatile.Write(ref _lastAppliedIndex, entry.Index);
        (entry.Context as Proposal)?.Applied(entry.Index);

        if (++_sinceSnapshot < _snapshotEvery)
            return ValueTask.FromResult(false);

        // DotNext persists on another thread, possibly while the next entry is applied:
        // capture the state now so the snapshot matches entry.Index exactly.
        _sinceSnapshot = 0;
        _pendingSnapshot = _machine.Snapshot();
        Volatile.Write(ref _lastSnapshotIndex, entry.Index);
        return ValueTask.FromResult(true);
    }

    protected override async ValueTask PersistAsync(IAsyncBinaryWriter writer, CancellationToken token)
    {
        var bytes = Interlocked.Exchange(ref _pendingSnapshot, null) ?? _machine.Snapshot();
        await writer.Invoke(bytes, token).ConfigureAwait(false);
    }

    protected override async ValueTask RestoreAsync(FileInfo snapshotFile, CancellationToken token)
    {
        var bytes = await File.ReadAllBytesAsync(snapshotFile.FullName, token).ConfigureAwait(false);
        _machine.Restore(bytes);
        _sinceSnapshot = 0;
        if (TryParseIndex(snapshotFile.Name, out var index))
        {
            Volatile.Write(ref _lastSnapshotIndex, index);
            Volatile.Write(ref _lastAppliedIndex, index);
        }
    }

    // DotNext names snapshot files "{index}-{term}".
    private static bool TryParseIndex(string fileName, out long index)
    {
        var dash = fileName.IndexOf('-', StringComparison.Ordinal);
        index = 0;
        return dash > 0 && long.TryParse(fileName.AsSpan(0, dash), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out index);
    }
}

/// <summary>Rides along with a replicated entry (as its in-memory context) to learn the entry's index on the leader.</summary>
internal sealed class Proposal
{
    private readonly TaskCompletionSource<long> _applied = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<long> AppliedTask => _applied.Task;

    public void Applied(long index) => _applied.TrySetResult(index);
}
