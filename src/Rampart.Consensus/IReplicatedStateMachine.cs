namespace Rampart.Consensus;

/// <summary>
/// The application's deterministic state, replicated by <see cref="RaftNode"/>.
/// Calls are never concurrent with each other: one applier thread drives them.
/// </summary>
public interface IReplicatedStateMachine
{
    /// <summary>Applies one committed command. Must be deterministic: same commands, same order, same state.</summary>
    void Apply(long index, ReadOnlySpan<byte> command);

    /// <summary>Serialises the whole state (taken after the last applied command).</summary>
    byte[] Snapshot();

    /// <summary>Replaces the whole state with a snapshot produced by <see cref="Snapshot"/>.</summary>
    void Restore(ReadOnlySpan<byte> snapshot);
}
