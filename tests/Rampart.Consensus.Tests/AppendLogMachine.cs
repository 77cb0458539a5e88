using System.Buffers.Binary;

namespace Rampart.Consensus.Tests;

/// <summary>Test state machine: remembers every applied (index, command) in order.</summary>
internal sealed class AppendLogMachine : IReplicatedStateMachine
{
    private readonly Lock _lock = new();
    private readonly List<(long Index, byte[] Command)> _entries = [];
    private long _firstAppliedSinceStart;

    public int RestoreCount { get; private set; }

    /// <summary>Index of the first command applied by this instance (0 = none); shows what the log replayed.</summary>
    public long FirstAppliedSinceStart
    {
        get { lock (_lock) return _firstAppliedSinceStart; }
    }

    public void Apply(long index, ReadOnlySpan<byte> command)
    {
        lock (_lock)
        {
            if (_entries.Count > 0 && _entries[^1].Index >= index)
                throw new InvalidOperationException($"index {index} applied after {_entries[^1].Index}");
            _entries.Add((index, command.ToArray()));
            if (_firstAppliedSinceStart == 0)
                _firstAppliedSinceStart = index;
        }
    }

    public byte[] Snapshot()
    {
        lock (_lock)
        {
            var size = _entries.Sum(e => 12 + e.Command.Length);
            var buffer = new byte[4 + size];
            BinaryPrimitives.WriteInt32LittleEndian(buffer, _entries.Count);
            var offset = 4;
            foreach (var (index, command) in _entries)
            {
                BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(offset), index);
                BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(offset + 8), command.Length);
                command.CopyTo(buffer.AsSpan(offset + 12));
                offset += 12 + command.Length;
            }

            return buffer;
        }
    }

    public void Restore(ReadOnlySpan<byte> snapshot)
    {
        lock (_lock)
        {
            _entries.Clear();
            var count = BinaryPrimitives.ReadInt32LittleEndian(snapshot);
            var offset = 4;
            for (var i = 0; i < count; i++)
            {
                var index = BinaryPrimitives.ReadInt64LittleEndian(snapshot[offset..]);
                var length = BinaryPrimitives.ReadInt32LittleEndian(snapshot[(offset + 8)..]);
                _entries.Add((index, snapshot.Slice(offset + 12, length).ToArray()));
                offset += 12 + length;
            }

            RestoreCount++;
        }
    }

    /// <summary>The applied commands as strings, in order.</summary>
    public IReadOnlyList<string> Commands
    {
        get
        {
            lock (_lock)
                return _entries.Select(e => System.Text.Encoding.UTF8.GetString(e.Command)).ToArray();
        }
    }

    public IReadOnlyList<long> Indices
    {
        get
        {
            lock (_lock)
                return _entries.Select(e => e.Index).ToArray();
        }
    }
}
