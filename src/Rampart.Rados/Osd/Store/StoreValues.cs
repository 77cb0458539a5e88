using Rampart.Rados.Placement;
using Rampart.Common.Hashing;
using System.Buffers.Binary;
using System.Text;

namespace Rampart.Rados.Osd.Store;

/// <summary>Object metadata record (head or an older version kept for snapshots).</summary>
internal sealed class MetaRecord
{
    public const byte FlagWhiteout = 1;     // deleted at head, kept because a snapshot still sees an older version
    public const byte FlagSnapVersions = 2; // older chunk or metadata versions exist for this object
    private const int Length = 46;

    public byte Flags;
    public long Size;
    public PgVersion Version;
    public long MTimeTicks;
    public ulong Tag;       // snap seq of the write that produced this version
    public long HighChunk;  // chunk heads exist only below this index

    public bool Whiteout
    {
        get => (Flags & FlagWhiteout) != 0;
        set => Flags = (byte)(value ? Flags | FlagWhiteout : Flags & ~FlagWhiteout);
    }

    public bool HasSnapVersions
    {
        get => (Flags & FlagSnapVersions) != 0;
        set => Flags = (byte)(value ? Flags | FlagSnapVersions : Flags & ~FlagSnapVersions);
    }

    public byte[] Encode()
    {
        var b = new byte[Length];
        b[0] = 1;
        b[1] = Flags;
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(2), Size);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(10), Version.Epoch);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(14), Version.Seq);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(22), MTimeTicks);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(30), Tag);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(38), HighChunk);
        return b;
    }

    public static MetaRecord Decode(ReadOnlySpan<byte> b)
    {
        if (b.Length != Length || b[0] != 1) throw new InvalidDataException("bad object metadata record");
        return new MetaRecord
        {
            Flags = b[1],
            Size = BinaryPrimitives.ReadInt64LittleEndian(b[2..]),
            Version = new PgVersion(BinaryPrimitives.ReadUInt32LittleEndian(b[10..]), BinaryPrimitives.ReadUInt64LittleEndian(b[14..])),
            MTimeTicks = BinaryPrimitives.ReadInt64LittleEndian(b[22..]),
            Tag = BinaryPrimitives.ReadUInt64LittleEndian(b[30..]),
            HighChunk = BinaryPrimitives.ReadInt64LittleEndian(b[38..]),
        };
    }

    public ObjectStat ToStat(string name) => new(name, Size, Version, new DateTimeOffset(MTimeTicks, TimeSpan.Zero));
}

/// <summary>
/// A stored chunk version: tag:u64 flags:u8 crc32c:u32 data. Data may be shorter than the chunk
/// size (the rest reads as zeros); empty data is a hole marker.
/// </summary>
internal readonly struct ChunkRecord
{
    public const byte FlagHasOlder = 1;
    public const int HeaderLength = 13;

    public readonly byte[] Raw;

    public ChunkRecord(byte[] raw)
    {
        if (raw.Length < HeaderLength) throw new InvalidDataException("bad chunk record");
        Raw = raw;
    }

    public ulong Tag => BinaryPrimitives.ReadUInt64LittleEndian(Raw);
    public bool HasOlder => (Raw[8] & FlagHasOlder) != 0;
    public uint StoredCrc => BinaryPrimitives.ReadUInt32LittleEndian(Raw.AsSpan(9));
    public ReadOnlySpan<byte> Data => Raw.AsSpan(HeaderLength);
    public int DataLength => Raw.Length - HeaderLength;

    public static byte[] Encode(ulong tag, bool hasOlder, ReadOnlySpan<byte> data)
    {
        var b = new byte[HeaderLength + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(b, tag);
        b[8] = hasOlder ? FlagHasOlder : (byte)0;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(9), Crc32C.Compute(data));
        data.CopyTo(b.AsSpan(HeaderLength));
        return b;
    }

    /// <summary>The same record with only the has-older flag changed (data and crc untouched).</summary>
    public byte[] WithHasOlder(bool hasOlder)
    {
        var b = (byte[])Raw.Clone();
        b[8] = hasOlder ? FlagHasOlder : (byte)0;
        return b;
    }

    public void Verify(PgId pg, string name, long chunk)
    {
        uint actual = Crc32C.Compute(Data);
        if (actual != StoredCrc) throw new ChunkCorruptException(pg, name, chunk, Tag, StoredCrc, actual);
    }
}

internal static class LogCodec
{
    public static byte[] Encode(PgLogEntry e)
    {
        var name = Encoding.UTF8.GetBytes(e.Object);
        var req = Encoding.UTF8.GetBytes(e.ReqId);
        var b = new byte[1 + 12 + 1 + 12 + 4 + name.Length + 4 + req.Length];
        var s = b.AsSpan();
        s[0] = 1;
        BinaryPrimitives.WriteUInt32LittleEndian(s[1..], e.Version.Epoch);
        BinaryPrimitives.WriteUInt64LittleEndian(s[5..], e.Version.Seq);
        s[13] = (byte)e.Op;
        BinaryPrimitives.WriteUInt32LittleEndian(s[14..], e.PriorVersion.Epoch);
        BinaryPrimitives.WriteUInt64LittleEndian(s[18..], e.PriorVersion.Seq);
        BinaryPrimitives.WriteInt32LittleEndian(s[26..], name.Length);
        name.CopyTo(s[30..]);
        int p = 30 + name.Length;
        BinaryPrimitives.WriteInt32LittleEndian(s[p..], req.Length);
        req.CopyTo(s[(p + 4)..]);
        return b;
    }

    public static PgLogEntry Decode(ReadOnlySpan<byte> s)
    {
        if (s.Length < 34 || s[0] != 1) throw new InvalidDataException("bad PG log entry");
        var v = new PgVersion(BinaryPrimitives.ReadUInt32LittleEndian(s[1..]), BinaryPrimitives.ReadUInt64LittleEndian(s[5..]));
        var op = (PgLogOp)s[13];
        var prior = new PgVersion(BinaryPrimitives.ReadUInt32LittleEndian(s[14..]), BinaryPrimitives.ReadUInt64LittleEndian(s[18..]));
        int nl = BinaryPrimitives.ReadInt32LittleEndian(s[26..]);
        var name = Encoding.UTF8.GetString(s.Slice(30, nl));
        int p = 30 + nl;
        int rl = BinaryPrimitives.ReadInt32LittleEndian(s[p..]);
        var req = Encoding.UTF8.GetString(s.Slice(p + 4, rl));
        return new PgLogEntry(v, op, name, req, prior);
    }
}
