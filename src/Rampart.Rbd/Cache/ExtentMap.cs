using System.Collections.Immutable;

namespace Rampart.Rbd.Cache;

internal enum SegmentState
{
    /// <summary>Acknowledged, not yet on the device, not being written.</summary>
    Dirty,

    /// <summary>Acknowledged, being written out by device op <see cref="Segment.Op"/>.</summary>
    Flushing,

    /// <summary>Not acknowledged: a write-through, FUA write or zeroing on its way to the device (op <see cref="Segment.Op"/>).</summary>
    Direct,

    /// <summary>On the device; kept to answer reads.</summary>
    Clean,
}

/// <summary>
/// A range whose newest content the cache holds: bytes, or zeros (<see cref="Buffer"/> null). The range, bytes and
/// sequence never change once made, so a reader may use a segment after the lock is released; a later write that
/// overlaps it replaces it in the map with pieces (<see cref="Slice"/>) that keep its sequence.
/// </summary>
internal sealed class Segment(long offset, long length, byte[]? buffer, int bufferOffset, long seq, long dirtied, SegmentState state, long op)
{
    public long Offset { get; } = offset;

    public long Length { get; } = length;

    public long End => Offset + Length;

    public byte[]? Buffer { get; } = buffer;

    public int BufferOffset { get; } = bufferOffset;

    /// <summary>The order of the write that made it: pieces of one write share it.</summary>
    public long Seq { get; } = seq;

    /// <summary>When the write was buffered (a <see cref="TimeProvider"/> timestamp).</summary>
    public long Dirtied { get; } = dirtied;

    public SegmentState State { get; set; } = state;

    /// <summary>The device op writing it (Flushing, Direct), else 0.</summary>
    public long Op { get; set; } = op;

    public bool IsData => Buffer is not null;

    public ReadOnlyMemory<byte> Data => Buffer.AsMemory(BufferOffset, (int)Length);

    /// <summary>
    /// The part [start, end) with the same state, op and sequence. Bytes are shared with this segment unless the part
    /// is under a quarter of the buffer, so a large write mostly overwritten does not pin its whole buffer.
    /// </summary>
    public Segment Slice(long start, long end)
    {
        if (Buffer is null) return new Segment(start, end - start, null, 0, Seq, Dirtied, State, Op);
        int from = BufferOffset + (int)(start - Offset);
        int length = (int)(end - start);
        return length * 4L < Buffer.Length
            ? new Segment(start, length, Buffer.AsSpan(from, length).ToArray(), 0, Seq, Dirtied, State, Op)
            : new Segment(start, length, Buffer, from, Seq, Dirtied, State, Op);
    }

    public override string ToString() => $"{Offset}+{Length} {State} seq {Seq}{(IsData ? "" : " zeros")}";
}

/// <summary>
/// The cache's view of an image: non-overlapping <see cref="Segment"/>s, each the newest content of its range.
/// Inserting a segment replaces whatever it overlaps. Counts bytes by state. Not thread-safe: the cache locks.
/// </summary>
internal sealed class ExtentMap
{
    private static readonly Comparer<Segment> ByOffset = Comparer<Segment>.Create((a, b) => a.Offset.CompareTo(b.Offset));

    private ImmutableSortedSet<Segment> _segments = ImmutableSortedSet.Create<Segment>(ByOffset);

    /// <summary>Acknowledged bytes not yet on the device (Dirty and Flushing).</summary>
    public long DirtyBytes { get; private set; }

    /// <summary>The part of <see cref="DirtyBytes"/> being written out now.</summary>
    public long FlushingBytes { get; private set; }

    public long CleanBytes { get; private set; }

    public int Count => _segments.Count;

    public IEnumerable<Segment> All => _segments;

    /// <summary>The segments that overlap [start, end), in offset order.</summary>
    public List<Segment> Overlapping(long start, long end)
    {
        var found = new List<Segment>();
        int i = _segments.IndexOf(new Segment(start, 1, null, 0, 0, 0, SegmentState.Clean, 0));
        if (i < 0)
        {
            i = ~i;
            if (i > 0 && _segments[i - 1].End > start) i--;
        }
        for (; i < _segments.Count; i++)
        {
            var s = _segments[i];
            if (s.Offset >= end) break;
            found.Add(s);
        }
        return found;
    }

    /// <summary>Adds <paramref name="segment"/>, cutting away what it overlaps (the parts outside it stay).</summary>
    public void Insert(Segment segment)
    {
        foreach (var old in Overlapping(segment.Offset, segment.End))
        {
            Remove(old);
            if (old.Offset < segment.Offset) Add(old.Slice(old.Offset, segment.Offset));
            if (old.End > segment.End) Add(old.Slice(segment.End, old.End));
        }
        Add(segment);
    }

    public void SetState(Segment segment, SegmentState state, long op = 0)
    {
        Account(segment, -1);
        segment.State = state;
        segment.Op = op;
        Account(segment, +1);
    }

    public void Remove(Segment segment)
    {
        _segments = _segments.Remove(segment);
        Account(segment, -1);
    }

    private void Add(Segment segment)
    {
        _segments = _segments.Add(segment);
        Account(segment, +1);
    }

    private void Account(Segment segment, int sign)
    {
        if (!segment.IsData) return;
        long bytes = sign * segment.Length;
        switch (segment.State)
        {
            case SegmentState.Dirty:
                DirtyBytes += bytes;
                break;
            case SegmentState.Flushing:
                DirtyBytes += bytes;
                FlushingBytes += bytes;
                break;
            case SegmentState.Clean:
                CleanBytes += bytes;
                break;
        }
    }
}
