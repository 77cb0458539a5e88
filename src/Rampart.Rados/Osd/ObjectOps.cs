using Rampart.Rados.Osd.Store;

namespace Rampart.Rados.Osd;

/// <summary>What one step of a client op does (Ceph's CEPH_OSD_OP_*).</summary>
public enum OpCode : byte
{
    Stat = 1,
    Read = 2,
    Write = 3,
    WriteFull = 4,
    Truncate = 5,
    Remove = 6,
    Create = 7,
    OmapSet = 8,
    OmapGet = 9,
    OmapRemove = 10,
    OmapList = 11,
    OmapClear = 12,
    /// <summary>Lists the objects of the PG (the op's object name is ignored): names after <see cref="ObjectOp.After"/>, at most <see cref="ObjectOp.Length"/>.</summary>
    List = 13,
    /// <summary>Byte ranges changed since snapshot <see cref="ObjectOp.Offset"/> (0: all data) up to the read snapshot or head:
    /// <see cref="OpResult.Extents"/>, and the stat then (<see cref="OpResult.Stat"/> null if the object did not exist).</summary>
    Diff = 14,
}

/// <summary>One step. Which fields matter depends on <see cref="Code"/>; the rest stay empty.</summary>
public sealed record ObjectOp(OpCode Code)
{
    public long Offset { get; init; }
    /// <summary>Read length, truncate size, or the most entries a list returns.</summary>
    public long Length { get; init; }
    public ReadOnlyMemory<byte> Data { get; init; }
    public IReadOnlyList<string> Keys { get; init; } = [];
    public IReadOnlyList<KeyValuePair<string, byte[]>> Pairs { get; init; } = [];
    public string? After { get; init; }

    public bool IsWrite => Code is OpCode.Write or OpCode.WriteFull or OpCode.Truncate or OpCode.Remove or OpCode.Create
        or OpCode.OmapSet or OpCode.OmapRemove or OpCode.OmapClear;

    public static ObjectOp Stat() => new(OpCode.Stat);
    public static ObjectOp Read(long offset, long length) => new(OpCode.Read) { Offset = offset, Length = length };
    public static ObjectOp Write(long offset, ReadOnlyMemory<byte> data) => new(OpCode.Write) { Offset = offset, Data = data };
    public static ObjectOp WriteFull(ReadOnlyMemory<byte> data) => new(OpCode.WriteFull) { Data = data };
    public static ObjectOp Truncate(long size) => new(OpCode.Truncate) { Length = size };
    public static ObjectOp Remove() => new(OpCode.Remove);
    /// <summary>Creates the object if absent; <paramref name="exclusive"/> makes the whole op fail with EEXIST when it exists.</summary>
    public static ObjectOp Create(bool exclusive = false) => new(OpCode.Create) { Length = exclusive ? 1 : 0 };
    public static ObjectOp OmapSet(IReadOnlyList<KeyValuePair<string, byte[]>> pairs) => new(OpCode.OmapSet) { Pairs = pairs };
    public static ObjectOp OmapGet(IReadOnlyList<string> keys) => new(OpCode.OmapGet) { Keys = keys };
    public static ObjectOp OmapRemove(IReadOnlyList<string> keys) => new(OpCode.OmapRemove) { Keys = keys };
    public static ObjectOp OmapList(string? after, int max) => new(OpCode.OmapList) { After = after, Length = max };
    public static ObjectOp OmapClear() => new(OpCode.OmapClear);
    public static ObjectOp List(string? after, int max) => new(OpCode.List) { After = after, Length = max };
    public static ObjectOp Diff(ulong fromSnap) => new(OpCode.Diff) { Offset = (long)fromSnap };

    internal void Encode(WireWriter w)
    {
        w.U8((byte)Code).I64(Offset).I64(Length).Bytes(Data.Span).NullableString(After);
        w.List(Keys, (w, k) => w.String(k));
        w.List(Pairs, (w, p) => w.String(p.Key).Bytes(p.Value));
    }

    internal static ObjectOp Decode(ref WireReader r)
    {
        byte code = r.U8();
        if (!Enum.IsDefined((OpCode)code))
            throw new FormatException($"Error EINVAL: unknown op code {code}");
        var op = new ObjectOp((OpCode)code) { Offset = r.I64(), Length = r.I64(), Data = r.Bytes(), After = r.NullableString() };
        var keys = new string[r.Count()];
        for (int i = 0; i < keys.Length; i++) keys[i] = r.String();
        var pairs = new KeyValuePair<string, byte[]>[r.Count()];
        for (int i = 0; i < pairs.Length; i++) pairs[i] = new(r.String(), r.Bytes());
        if (op.Offset < 0 || op.Length < 0)
            throw new FormatException("Error EINVAL: negative offset or length");
        return op with { Keys = keys, Pairs = pairs };
    }
}

/// <summary>The answer to one step: data read, a stat, omap entries, or object names.</summary>
public sealed record OpResult
{
    public static readonly OpResult Empty = new();

    public byte[] Data { get; init; } = [];
    public ObjectStat? Stat { get; init; }
    public IReadOnlyList<KeyValuePair<string, byte[]>> Pairs { get; init; } = [];
    public IReadOnlyList<string> Names { get; init; } = [];
    /// <summary>More entries follow (omap list, object list).</summary>
    public bool More { get; init; }
    /// <summary>Changed byte ranges (diff).</summary>
    public IReadOnlyList<(long Offset, long Length)> Extents { get; init; } = [];

    internal void Encode(WireWriter w)
    {
        w.Bytes(Data).Bool(Stat is not null);
        if (Stat is { } s)
            w.String(s.Name).I64(s.Size).U32(s.Version.Epoch).U64(s.Version.Seq).I64(s.MTime.UtcTicks);
        w.List(Pairs, (w, p) => w.String(p.Key).Bytes(p.Value));
        w.List(Names, (w, n) => w.String(n));
        w.Bool(More);
        w.List(Extents, (w, e) => w.I64(e.Offset).I64(e.Length));
    }

    internal static OpResult Decode(ref WireReader r)
    {
        var data = r.Bytes();
        ObjectStat? stat = null;
        if (r.Bool())
            stat = new ObjectStat(r.String(), r.I64(), new PgVersion(r.U32(), r.U64()), new DateTimeOffset(r.Ticks(), TimeSpan.Zero));
        var pairs = new KeyValuePair<string, byte[]>[r.Count()];
        for (int i = 0; i < pairs.Length; i++) pairs[i] = new(r.String(), r.Bytes());
        var names = new string[r.Count()];
        for (int i = 0; i < names.Length; i++) names[i] = r.String();
        bool more = r.Bool();
        var extents = new (long, long)[r.Count()];
        for (int i = 0; i < extents.Length; i++) extents[i] = (r.I64(), r.I64());
        return new OpResult { Data = data, Stat = stat, Pairs = pairs, Names = names, More = more, Extents = extents };
    }
}
