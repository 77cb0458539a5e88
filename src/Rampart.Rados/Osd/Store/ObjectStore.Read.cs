using Rampart.Rados.Placement;
using Rampart.Common.Hashing;
using System.Buffers.Binary;
using System.Text;
using RocksDbSharp;

namespace Rampart.Rados.Osd.Store;

/// <summary>A page of object names; <see cref="Next"/> is the cursor for the next page, null at the end.</summary>
public sealed record ObjectListing(IReadOnlyList<string> Names, string? Next);

/// <summary>A page of omap entries in key order; <see cref="More"/> says whether entries follow.</summary>
public sealed record OmapPage(IReadOnlyList<KeyValuePair<string, byte[]>> Entries, bool More);

/// <summary>Deep-scrub result of one PG: every live object with its digests, and every bad chunk found.</summary>
public sealed record ScrubReport(IReadOnlyList<ScrubObject> Objects, IReadOnlyList<ChunkCorruptException> Errors);

public sealed partial class ObjectStore
{
    /// <summary>A consistent read view (RocksDB snapshot); iterators and the snapshot die before the DB.</summary>
    private sealed class View : IDisposable
    {
        private readonly RocksDb _db;
        private readonly Snapshot _snapshot;
        private readonly ReadOptions _ro;
        // RocksDbSharp copies iterate bounds into unmanaged memory that the ReadOptions' finalizer frees: the options must
        // outlive their iterators, or a GC mid-iteration leaves the iterator reading freed bounds (garbage keys, crashes).
        private readonly List<ReadOptions> _rangeOptions = [];

        public View(RocksDb db)
        {
            _db = db;
            _snapshot = db.CreateSnapshot();
            _ro = new ReadOptions().SetSnapshot(_snapshot);
        }

        public byte[]? Get(byte[] key) => _db.Get(key, null, _ro);

        /// <summary>Iterator over [lower, upper).</summary>
        public Iterator Range(byte[] lower, byte[] upper)
        {
            var ro = new ReadOptions().SetSnapshot(_snapshot).SetIterateLowerBound(lower).SetIterateUpperBound(upper).SetTotalOrderSeek(true);
            _rangeOptions.Add(ro);
            return _db.NewIterator(null, ro);
        }

        public void Dispose()
        {
            _snapshot.Dispose();
            GC.KeepAlive(_rangeOptions);
            GC.KeepAlive(_ro);
        }
    }

    private View OpenView()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return new View(_db);
    }

    private static MetaRecord? MetaAt(View v, PgId pg, string name, ulong? snap)
    {
        if (v.Get(StoreKeys.MetaKey(pg, name)) is not { } raw) return null;
        var head = MetaRecord.Decode(raw);
        if (snap is not { } s || head.Tag < s) return head.Whiteout ? null : head;
        if (s == 0) return null;
        var prefix = StoreKeys.ObjectPrefix(pg, name);
        using var it = v.Range(StoreKeys.OldMetaKey(prefix, 0), StoreKeys.OldMetaKey(prefix, s));
        it.SeekToLast();
        if (!it.Valid()) return null;
        var old = MetaRecord.Decode(it.Value());
        return old.Whiteout ? null : old;
    }

    private static ChunkRecord? ChunkAt(View v, byte[] prefix, long chunk, ulong? snap)
    {
        var raw = v.Get(StoreKeys.ChunkKey(prefix, chunk));
        if (snap is not { } s || (raw is not null && new ChunkRecord(raw).Tag < s)) return raw is null ? null : new ChunkRecord(raw);
        if (raw is null || s == 0) return null; // older versions exist only under a head
        using var it = v.Range(StoreKeys.OldChunkKey(prefix, chunk, 0), StoreKeys.OldChunkKey(prefix, chunk, s));
        it.SeekToLast();
        return it.Valid() ? new ChunkRecord(it.Value()) : null;
    }

    /// <summary>Metadata at head (<paramref name="snap"/> null) or at snapshot <paramref name="snap"/>; null if absent.</summary>
    public ObjectStat? Stat(PgId pg, string name, ulong? snap = null)
    {
        using var v = OpenView();
        return MetaAt(v, pg, name, snap)?.ToStat(name);
    }

    /// <summary>Head metadata without a snapshot (one point read, queued writes included): the write path's existence check.</summary>
    public ObjectStat? HeadStat(PgId pg, string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return GetCommittedOrPending(StoreKeys.MetaKey(pg, name)) is { } raw && MetaRecord.Decode(raw) is { Whiteout: false } m ? m.ToStat(name) : null;
    }

    /// <summary>
    /// What changed in an object between snapshot <paramref name="from"/> (0: nothing before) and
    /// <paramref name="to"/> (null: head): its stat at <paramref name="to"/> (null if absent then) and the
    /// byte ranges, chunk-aligned and merged, whose content may differ — every chunk whose version seen at
    /// <paramref name="to"/> was written at or after <paramref name="from"/>, or that vanished since.
    /// </summary>
    public (ObjectStat? Stat, List<(long Offset, long Length)> Extents) Diff(PgId pg, string name, ulong from, ulong? to)
    {
        using var v = OpenView();
        var metaTo = MetaAt(v, pg, name, to);
        var metaFrom = from == 0 ? null : MetaAt(v, pg, name, from);
        var extents = new List<(long Offset, long Length)>();
        void Add(long offset, long length)
        {
            if (length <= 0) return;
            if (extents.Count > 0 && extents[^1].Offset + extents[^1].Length == offset)
                extents[^1] = (extents[^1].Offset, extents[^1].Length + length);
            else
                extents.Add((offset, length));
        }
        long sizeTo = metaTo?.Size ?? 0, sizeFrom = metaFrom?.Size ?? 0, end = Math.Max(sizeTo, sizeFrom);
        if (metaFrom is null || metaTo is null)
            Add(0, end); // created, or removed, in between: all of it
        else if (metaTo.Tag >= from)
        {
            var prefix = StoreKeys.ObjectPrefix(pg, name);
            for (long chunk = 0; chunk * ChunkSize < end; chunk++)
            {
                var now = ChunkAt(v, prefix, chunk, to);
                bool changed = now is { } c ? c.Tag >= from : ChunkAt(v, prefix, chunk, from) is not null;
                if (changed)
                    Add(chunk * ChunkSize, Math.Min(ChunkSize, end - chunk * ChunkSize));
            }
        }
        return (metaTo?.ToStat(name), extents);
    }

    /// <summary>
    /// Reads up to <paramref name="length"/> bytes at <paramref name="offset"/>, clipped to the object
    /// size; holes read as zeros. Every chunk's CRC-32C is checked (<see cref="ChunkCorruptException"/>).
    /// </summary>
    public byte[] Read(PgId pg, string name, long offset, int length, ulong? snap = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        using var v = OpenView();
        var m = MetaAt(v, pg, name, snap) ?? throw new ObjectNotFoundException(pg, name, snap);
        if (offset >= m.Size) return [];
        int n = (int)Math.Min(length, m.Size - offset);
        var result = new byte[n];
        var prefix = StoreKeys.ObjectPrefix(pg, name);
        long pos = offset;
        while (pos < offset + n)
        {
            long chunk = pos / ChunkSize;
            int inChunk = (int)(pos % ChunkSize);
            int take = (int)Math.Min(ChunkSize - inChunk, offset + n - pos);
            if (ChunkAt(v, prefix, chunk, snap) is { } rec)
            {
                rec.Verify(pg, name, chunk);
                var data = rec.Data;
                if (inChunk < data.Length)
                    data.Slice(inChunk, Math.Min(take, data.Length - inChunk)).CopyTo(result.AsSpan((int)(pos - offset)));
            }
            pos += take;
        }
        return result;
    }

    /// <summary>The values of those <paramref name="keys"/> that exist.</summary>
    public IReadOnlyDictionary<string, byte[]> OmapGet(PgId pg, string name, IEnumerable<string> keys)
    {
        using var v = OpenView();
        if (MetaAt(v, pg, name, null) is null) throw new ObjectNotFoundException(pg, name, null);
        var prefix = StoreKeys.ObjectPrefix(pg, name);
        var result = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var k in keys)
            if (v.Get(StoreKeys.OmapKey(prefix, k)) is { } val) result[k] = val;
        return result;
    }

    /// <summary>Omap entries with key &gt; <paramref name="after"/> (ordinal UTF-8 order), at most <paramref name="max"/>.</summary>
    public OmapPage OmapList(PgId pg, string name, string? after = null, int max = 1000)
    {
        using var v = OpenView();
        if (MetaAt(v, pg, name, null) is null) throw new ObjectNotFoundException(pg, name, null);
        var region = StoreKeys.Concat(StoreKeys.ObjectPrefix(pg, name), StoreKeys.Omap);
        byte[] start = after is null ? region : [.. region, .. Encoding.UTF8.GetBytes(after), 0];
        var list = new List<KeyValuePair<string, byte[]>>();
        using var it = v.Range(start, StoreKeys.Successor(region));
        for (it.Seek(start); it.Valid(); it.Next())
        {
            if (list.Count == max) return new OmapPage(list, true);
            list.Add(new(Encoding.UTF8.GetString(it.Key().AsSpan(region.Length)), it.Value()));
        }
        return new OmapPage(list, false);
    }

    /// <summary>Objects of <paramref name="pg"/> with name &gt; <paramref name="after"/> (ordinal UTF-8 order).</summary>
    public ObjectListing ListObjects(PgId pg, string? after = null, int max = 1000)
    {
        using var v = OpenView();
        var region = StoreKeys.PgSub(pg, StoreKeys.Meta);
        var start = after is null ? region : StoreKeys.MetaKey(pg, after);
        var names = new List<string>();
        using var it = v.Range(region, StoreKeys.Successor(region));
        for (it.Seek(start); it.Valid(); it.Next())
        {
            var key = it.Key();
            if (after is not null && key.AsSpan().SequenceEqual(start)) continue;
            if (MetaRecord.Decode(it.Value()).Whiteout) continue;
            if (names.Count == max) return new ObjectListing(names, names[^1]);
            names.Add(StoreKeys.DecodeName(key.AsSpan(region.Length), out _));
        }
        return new ObjectListing(names, null);
    }

    /// <summary>Every PG that has anything stored (objects, log or info).</summary>
    public IReadOnlyList<PgId> ListPgs()
    {
        using var v = OpenView();
        var pgs = new List<PgId>();
        using var it = v.Range([StoreKeys.PgTag], [StoreKeys.PgTag + 1]);
        it.Seek([StoreKeys.PgTag]);
        while (it.Valid())
        {
            var pg = StoreKeys.ReadPg(it.Key());
            pgs.Add(pg);
            it.Seek(StoreKeys.PgEnd(pg));
        }
        return pgs;
    }

    /// <summary>The PG info last stored with a transaction, or null.</summary>
    public byte[]? GetPgInfo(PgId pg)
    {
        using var v = OpenView();
        return v.Get(StoreKeys.InfoKey(pg));
    }

    /// <summary>Log entries with version &gt; <paramref name="after"/> (all when null), oldest first.</summary>
    public IReadOnlyList<PgLogEntry> ReadLog(PgId pg, PgVersion? after = null, int max = int.MaxValue)
    {
        using var v = OpenView();
        var region = StoreKeys.PgSub(pg, StoreKeys.Log);
        var start = after is { } a ? StoreKeys.Successor(StoreKeys.LogKey(pg, a)) : region;
        var list = new List<PgLogEntry>();
        using var it = v.Range(region, StoreKeys.Successor(region));
        for (it.Seek(start); it.Valid() && list.Count < max; it.Next()) list.Add(LogCodec.Decode(it.Value()));
        return list;
    }

    /// <summary>The newest log entry, or null when the log is empty.</summary>
    public PgLogEntry? LogHead(PgId pg)
    {
        using var v = OpenView();
        var region = StoreKeys.PgSub(pg, StoreKeys.Log);
        using var it = v.Range(region, StoreKeys.Successor(region));
        it.SeekToLast();
        return it.Valid() ? LogCodec.Decode(it.Value()) : null;
    }

    /// <summary>
    /// Everything stored of one object — metadata and every key under it (chunk versions, omap) — with
    /// keys relative to the object, for another OSD's <see cref="StoreTransaction.ReplaceObject"/>. Chunk
    /// CRCs are checked first, so a corrupt copy is never spread (<see cref="ChunkCorruptException"/>).
    /// Meta is null when the object does not exist.
    /// </summary>
    public (byte[]? Meta, List<KeyValuePair<byte[], byte[]>> Records) ExportObject(PgId pg, string name)
    {
        using var v = OpenView();
        var records = new List<KeyValuePair<byte[], byte[]>>();
        var meta = v.Get(StoreKeys.MetaKey(pg, name));
        if (meta is null) return (null, records);
        var prefix = StoreKeys.ObjectPrefix(pg, name);
        using var it = v.Range(prefix, StoreKeys.Successor(prefix));
        for (it.Seek(prefix); it.Valid(); it.Next())
        {
            var key = it.Key();
            var suffix = key.AsSpan(prefix.Length);
            var value = it.Value();
            if (suffix.Length >= 9 && suffix[0] is StoreKeys.Chunk or StoreKeys.OldChunk)
                new ChunkRecord(value).Verify(pg, name, (long)BinaryPrimitives.ReadUInt64BigEndian(suffix[1..]));
            records.Add(new(suffix.ToArray(), value));
        }
        return (meta, records);
    }

    /// <summary>The log entry of request <paramref name="reqId"/>, if the log still holds it (dup detection).</summary>
    public PgLogEntry? FindLogEntry(PgId pg, string reqId)
    {
        foreach (var e in ReadLog(pg)) if (e.ReqId == reqId) return e;
        return null;
    }

    /// <summary>
    /// Deep scrub: every object of <paramref name="pg"/> with a CRC-32C over its logical content
    /// (size bytes, holes as zeros) and over its omap; every stored chunk version's CRC checked.
    /// </summary>
    public ScrubReport DeepScrub(PgId pg)
    {
        using var v = OpenView();
        var objects = new List<ScrubObject>();
        var errors = new List<ChunkCorruptException>();
        var region = StoreKeys.PgSub(pg, StoreKeys.Meta);
        Span<byte> len = stackalloc byte[4];
        using var it = v.Range(region, StoreKeys.Successor(region));
        for (it.Seek(region); it.Valid(); it.Next())
        {
            var name = StoreKeys.DecodeName(it.Key().AsSpan(region.Length), out _);
            var m = MetaRecord.Decode(it.Value());
            var prefix = StoreKeys.ObjectPrefix(pg, name);
            uint digest = 0;
            long pos = 0;
            var chunks = StoreKeys.Concat(prefix, StoreKeys.Chunk);
            using (var ci = v.Range(chunks, StoreKeys.Successor(chunks)))
            {
                for (ci.Seek(chunks); ci.Valid(); ci.Next())
                {
                    long c = (long)BinaryPrimitives.ReadUInt64BigEndian(ci.Key().AsSpan(chunks.Length));
                    var rec = new ChunkRecord(ci.Value());
                    try { rec.Verify(pg, name, c); }
                    catch (ChunkCorruptException e) { errors.Add(e); }
                    long start = c * ChunkSize;
                    if (m.Whiteout || start >= m.Size) continue;
                    digest = Crc32C.AppendZeros(digest, start - pos);
                    int used = (int)Math.Min(rec.DataLength, m.Size - start);
                    digest = Crc32C.Append(digest, rec.Data[..used]);
                    pos = start + used;
                }
            }
            var olds = StoreKeys.Concat(prefix, StoreKeys.OldChunk);
            using (var oi = v.Range(olds, StoreKeys.Successor(olds)))
            {
                for (oi.Seek(olds); oi.Valid(); oi.Next())
                {
                    long c = (long)BinaryPrimitives.ReadUInt64BigEndian(oi.Key().AsSpan(olds.Length));
                    try { new ChunkRecord(oi.Value()).Verify(pg, name, c); }
                    catch (ChunkCorruptException e) { errors.Add(e); }
                }
            }
            if (m.Whiteout) continue;
            digest = Crc32C.AppendZeros(digest, m.Size - pos);
            uint omapDigest = 0;
            var omap = StoreKeys.Concat(prefix, StoreKeys.Omap);
            using (var oi = v.Range(omap, StoreKeys.Successor(omap)))
            {
                for (oi.Seek(omap); oi.Valid(); oi.Next())
                {
                    var k = oi.Key().AsSpan(omap.Length);
                    var val = oi.Value();
                    BinaryPrimitives.WriteInt32LittleEndian(len, k.Length);
                    omapDigest = Crc32C.Append(Crc32C.Append(omapDigest, len), k);
                    BinaryPrimitives.WriteInt32LittleEndian(len, val.Length);
                    omapDigest = Crc32C.Append(Crc32C.Append(omapDigest, len), val);
                }
            }
            objects.Add(new ScrubObject(name, m.Size, m.Version, digest, omapDigest));
        }
        return new ScrubReport(objects, errors);
    }

    /// <summary>
    /// Snapshot trim for <paramref name="pg"/>: deletes every old chunk and metadata version that
    /// no snapshot in <paramref name="remainingSnaps"/> sees (see the rule at the top of
    /// ObjectStore.cs), and whiteouts nothing sees any more. One batch. Returns versions deleted.
    /// </summary>
    public Task<int> TrimSnapsAsync(PgId pg, IReadOnlyCollection<ulong> remainingSnaps) => Exclusive(() =>
    {
        var snaps = remainingSnaps.Order().ToArray();
        bool Seen(ulong tag, ulong next)
        {
            int i = Array.BinarySearch(snaps, tag);
            i = i < 0 ? ~i : i + 1; // first snap > tag
            return i < snaps.Length && snaps[i] <= next;
        }

        var batch = new StoreBatch();
        int removed = 0;
        using var v = OpenView();
        var region = StoreKeys.PgSub(pg, StoreKeys.Meta);
        using var it = v.Range(region, StoreKeys.Successor(region));
        for (it.Seek(region); it.Valid(); it.Next())
        {
            var m = MetaRecord.Decode(it.Value());
            if (!m.HasSnapVersions && !m.Whiteout) continue;
            var name = StoreKeys.DecodeName(it.Key().AsSpan(region.Length), out _);
            var prefix = StoreKeys.ObjectPrefix(pg, name);
            bool anyKept = false;

            // Old chunk versions, grouped by chunk: key = prefix 'V' chunk tag.
            var olds = StoreKeys.Concat(prefix, StoreKeys.OldChunk);
            var group = new List<(ulong Tag, byte[] Key)>();
            long groupChunk = -1;
            void FlushGroup()
            {
                if (group.Count == 0) return;
                var headKey = StoreKeys.ChunkKey(prefix, groupChunk);
                var headRaw = v.Get(headKey);
                ulong headTag = headRaw is null ? ulong.MaxValue : new ChunkRecord(headRaw).Tag;
                bool kept = false;
                for (int i = 0; i < group.Count; i++)
                {
                    ulong next = i + 1 < group.Count ? group[i + 1].Tag : headTag;
                    if (Seen(group[i].Tag, next)) kept = true;
                    else
                    {
                        batch.Delete(group[i].Key);
                        removed++;
                    }
                }
                if (!kept && headRaw is not null)
                {
                    var head = new ChunkRecord(headRaw);
                    if (head.DataLength == 0) batch.Delete(headKey);
                    else batch.Put(headKey, head.WithHasOlder(false));
                }
                anyKept |= kept;
                group.Clear();
            }
            using (var ci = v.Range(olds, StoreKeys.Successor(olds)))
            {
                for (ci.Seek(olds); ci.Valid(); ci.Next())
                {
                    var k = ci.Key();
                    long c = (long)BinaryPrimitives.ReadUInt64BigEndian(k.AsSpan(olds.Length));
                    ulong tag = BinaryPrimitives.ReadUInt64BigEndian(k.AsSpan(olds.Length + 8));
                    if (c != groupChunk) { FlushGroup(); groupChunk = c; }
                    group.Add((tag, k));
                }
            }
            FlushGroup();

            var metas = StoreKeys.Concat(prefix, StoreKeys.OldMeta);
            var mtags = new List<(ulong Tag, byte[] Key)>();
            using (var mi = v.Range(metas, StoreKeys.Successor(metas)))
            {
                for (mi.Seek(metas); mi.Valid(); mi.Next())
                    mtags.Add((BinaryPrimitives.ReadUInt64BigEndian(mi.Key().AsSpan(metas.Length)), mi.Key()));
            }
            bool metaKept = false;
            for (int i = 0; i < mtags.Count; i++)
            {
                ulong next = i + 1 < mtags.Count ? mtags[i + 1].Tag : m.Tag;
                if (Seen(mtags[i].Tag, next)) metaKept = true;
                else
                {
                    batch.Delete(mtags[i].Key);
                    removed++;
                }
            }
            if (m.Whiteout && !metaKept)
            {
                batch.Delete(StoreKeys.MetaKey(pg, name));
                batch.DeleteRange(prefix, StoreKeys.Successor(prefix));
                continue;
            }
            anyKept |= metaKept;
            if (m.HasSnapVersions != anyKept)
            {
                m.HasSnapVersions = anyKept;
                batch.Put(StoreKeys.MetaKey(pg, name), m.Encode());
            }
        }
        return (batch, removed);
    });

    /// <summary>
    /// TEST HOOK: flips one byte of a stored chunk version (head when <paramref name="snapTag"/> is
    /// null) so tests can prove reads and scrub detect corruption. Never call it in production.
    /// </summary>
    public void CorruptChunkForTesting(PgId pg, string name, long chunk, ulong? snapTag = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var prefix = StoreKeys.ObjectPrefix(pg, name);
        var key = snapTag is { } t ? StoreKeys.OldChunkKey(prefix, chunk, t) : StoreKeys.ChunkKey(prefix, chunk);
        var raw = _db.Get(key) ?? throw new InvalidOperationException($"no chunk {chunk} of '{name}' in PG {pg}");
        raw[raw.Length > ChunkRecord.HeaderLength ? raw.Length - 1 : 9] ^= 0x5A;
        _db.Put(key, raw, null, new WriteOptions().SetSync(true));
    }

    /// <summary>Stored chunk versions of an object: head chunks (hole markers included) and older versions.</summary>
    internal (int Head, int Old) CountChunkVersions(PgId pg, string name)
    {
        using var v = OpenView();
        var prefix = StoreKeys.ObjectPrefix(pg, name);
        int Count(byte type)
        {
            var r = StoreKeys.Concat(prefix, type);
            using var it = v.Range(r, StoreKeys.Successor(r));
            int n = 0;
            for (it.Seek(r); it.Valid(); it.Next()) n++;
            return n;
        }
        return (Count(StoreKeys.Chunk), Count(StoreKeys.OldChunk));
    }
}
