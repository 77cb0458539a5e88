using Rampart.Rados.Placement;
using System.Buffers.Binary;
using System.Text;

namespace Rampart.Rados.Osd.Store;

/*
 * Key layout of the OSD store (one RocksDB column family, "default"). All integers big-endian so
 * byte order is numeric order; everything of one PG lies under its 13-byte PG prefix, so a PG is
 * listed, backfilled or deleted as one key range.
 *
 *   'A'                                         superblock: format, chunk size
 *   'N' pool:u64                                pool layout: the pg_num its objects are placed by (ObjectStore.Split.cs)
 *   'P' pool:u64 seed:u32                      = PG prefix ("PG" below)
 *   PG 'I'                                      PG info (opaque bytes from the PG layer)
 *   PG 'L' epoch:u32 seq:u64                    PG log entry, in version order
 *   PG 'M' name*                                object head metadata (also whiteouts)
 *   PG 'O' name* 'D' chunk:u64                  head version of a chunk: tag, flags, crc, data
 *   PG 'O' name* 'K' key                        omap entry (key is UTF-8; byte order)
 *   PG 'O' name* 'S' tag:u64                    older metadata version kept for snapshots
 *   PG 'O' name* 'V' chunk:u64 tag:u64          older chunk version kept for snapshots
 *
 *   name* = UTF-8 object name with 0x00 written as 0x00 0xFF, then the terminator 0x00 0x01.
 *   Encoded names sort exactly as the raw UTF-8 bytes do, and no encoded name is a prefix of
 *   another, so one object's keys are contiguous and objects list in ordinal name order.
 */
internal static class StoreKeys
{
    public const byte Superblock = (byte)'A';
    public const byte Layout = (byte)'N';
    public const byte PgTag = (byte)'P';
    public const byte Info = (byte)'I';
    public const byte Log = (byte)'L';
    public const byte Meta = (byte)'M';
    public const byte Obj = (byte)'O';
    public const byte Chunk = (byte)'D';
    public const byte Omap = (byte)'K';
    public const byte OldMeta = (byte)'S';
    public const byte OldChunk = (byte)'V';
    public const int PgPrefixLength = 13;

    public static byte[] SuperblockKey() => [Superblock];

    public static void WritePg(Span<byte> dst, PgId pg)
    {
        dst[0] = PgTag;
        BinaryPrimitives.WriteUInt64BigEndian(dst[1..], (ulong)pg.PoolId);
        BinaryPrimitives.WriteUInt32BigEndian(dst[9..], pg.Seed);
    }

    public static byte[] PgPrefix(PgId pg)
    {
        var k = new byte[PgPrefixLength];
        WritePg(k, pg);
        return k;
    }

    /// <summary>The first key after every key of <paramref name="pg"/>.</summary>
    public static byte[] PgEnd(PgId pg) => Successor(PgPrefix(pg));

    public static PgId ReadPg(ReadOnlySpan<byte> key) =>
        new((long)BinaryPrimitives.ReadUInt64BigEndian(key[1..]), BinaryPrimitives.ReadUInt32BigEndian(key[9..]));

    public static byte[] PgSub(PgId pg, byte type, ReadOnlySpan<byte> rest = default)
    {
        var k = new byte[PgPrefixLength + 1 + rest.Length];
        WritePg(k, pg);
        k[PgPrefixLength] = type;
        rest.CopyTo(k.AsSpan(PgPrefixLength + 1));
        return k;
    }

    public static byte[] InfoKey(PgId pg) => PgSub(pg, Info);

    public static byte[] LogKey(PgId pg, PgVersion v)
    {
        Span<byte> r = stackalloc byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(r, v.Epoch);
        BinaryPrimitives.WriteUInt64BigEndian(r[4..], v.Seq);
        return PgSub(pg, Log, r);
    }

    public static PgVersion ReadLogVersion(ReadOnlySpan<byte> key) =>
        new(BinaryPrimitives.ReadUInt32BigEndian(key[(PgPrefixLength + 1)..]), BinaryPrimitives.ReadUInt64BigEndian(key[(PgPrefixLength + 5)..]));

    public static byte[] EncodeName(string name)
    {
        var raw = Encoding.UTF8.GetBytes(name);
        int zeros = 0;
        foreach (var b in raw) if (b == 0) zeros++;
        var enc = new byte[raw.Length + zeros + 2];
        int j = 0;
        foreach (var b in raw)
        {
            enc[j++] = b;
            if (b == 0) enc[j++] = 0xFF;
        }
        enc[j++] = 0;
        enc[j] = 1;
        return enc;
    }

    /// <summary>Decodes an encoded name at the start of <paramref name="src"/>; returns its encoded length.</summary>
    public static string DecodeName(ReadOnlySpan<byte> src, out int encodedLength)
    {
        var raw = new List<byte>(src.Length);
        int i = 0;
        while (true)
        {
            byte b = src[i++];
            if (b != 0) { raw.Add(b); continue; }
            byte n = src[i++];
            if (n == 1) break;
            raw.Add(0);
        }
        encodedLength = i;
        return Encoding.UTF8.GetString(raw.ToArray());
    }

    public static byte[] MetaKey(PgId pg, string name) => PgSub(pg, Meta, EncodeName(name));

    /// <summary>PG 'O' name* — the prefix of every per-object key but the head metadata.</summary>
    public static byte[] ObjectPrefix(PgId pg, string name) => PgSub(pg, Obj, EncodeName(name));

    public static byte[] Concat(byte[] prefix, byte type, ReadOnlySpan<byte> rest = default)
    {
        var k = new byte[prefix.Length + 1 + rest.Length];
        prefix.CopyTo(k, 0);
        k[prefix.Length] = type;
        rest.CopyTo(k.AsSpan(prefix.Length + 1));
        return k;
    }

    public static byte[] ChunkKey(byte[] objPrefix, long chunk)
    {
        Span<byte> r = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(r, (ulong)chunk);
        return Concat(objPrefix, Chunk, r);
    }

    public static byte[] OldChunkKey(byte[] objPrefix, long chunk, ulong tag)
    {
        Span<byte> r = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(r, (ulong)chunk);
        BinaryPrimitives.WriteUInt64BigEndian(r[8..], tag);
        return Concat(objPrefix, OldChunk, r);
    }

    public static byte[] OldMetaKey(byte[] objPrefix, ulong tag)
    {
        Span<byte> r = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(r, tag);
        return Concat(objPrefix, OldMeta, r);
    }

    public static byte[] OmapKey(byte[] objPrefix, string key) => Concat(objPrefix, Omap, Encoding.UTF8.GetBytes(key));

    /// <summary>The smallest key greater than every key that starts with <paramref name="prefix"/>.</summary>
    public static byte[] Successor(ReadOnlySpan<byte> prefix)
    {
        var k = prefix.ToArray();
        for (int i = k.Length - 1; i >= 0; i--)
        {
            if (k[i] != 0xFF)
            {
                k[i]++;
                return k[..(i + 1)];
            }
        }
        throw new ArgumentException("prefix has no successor");
    }

    public static bool StartsWith(ReadOnlySpan<byte> key, ReadOnlySpan<byte> prefix) => key.StartsWith(prefix);
}

/// <summary>Byte-array equality for the pending-write overlay.</summary>
internal sealed class ByteArrayComparer : IEqualityComparer<byte[]>
{
    public static readonly ByteArrayComparer Instance = new();
    public bool Equals(byte[]? x, byte[]? y) => x is null ? y is null : y is not null && x.AsSpan().SequenceEqual(y);
    public int GetHashCode(byte[] obj)
    {
        var h = new HashCode();
        h.AddBytes(obj);
        return h.ToHashCode();
    }
}
