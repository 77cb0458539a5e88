using Rampart.Rados.Placement;
using System.Buffers.Binary;
using RocksDbSharp;

namespace Rampart.Rados.Osd.Store;

/*
 * The OSD's local object store: one RocksDB per OSD data dir (key layout in StoreKeys.cs).
 *
 * Snapshots — versioned chunks. Every chunk version and every metadata version carries a tag: the
 * snap seq of the write that produced it (max of the write's SnapContext.Seq and the object's
 * previous tag, so tags never go backwards). Snapshot ids are allocated in increasing order and a
 * write made after snapshot s was taken carries seq ≥ s, so:
 *
 *   READ at snapshot s sees, per chunk and for the metadata, the newest version with tag < s.
 *   (Writes tagged s or later happened after snapshot s; "≤ s" would show them.)
 *
 *   WRITE (or truncate/remove) replacing a head version with tag t keeps it as an old version
 *   iff some existing snapshot s has s > t (that snapshot sees t and will not see the new version).
 *   Otherwise the head is replaced in place. Copy-on-write therefore costs one chunk per chunk
 *   touched, once per snapshot interval — never the whole object.
 *
 *   TRIM with remaining snapshots R: an old version t whose next newer version has tag n is seen
 *   exactly by the snapshots in (t, n]; it is deleted when R has none there.
 *
 * Chunks past a shrink or of a removed object become hole markers (empty data) while older
 * versions exist below them, so a snapshot taken later never falls through to stale data. A removed
 * object whose head a snapshot still needs stays as a whiteout (invisible at head) until trimmed.
 * The head chunk and metadata sit at fixed keys, so a write needs point reads only: those see the
 * transaction's own writes, then writes queued for commit but not yet durable (the overlay), then
 * the database — which makes group commit safe for back-to-back writes to one object.
 * Omap is not versioned (a snapshot read of omap sees head).
 */
public sealed partial class ObjectStore : IDisposable
{
    private sealed class Pending(byte[]? value, long batch)
    {
        public byte[]? Value = value;
        public long Batch = batch;
    }

    private readonly RocksDb _db;
    private readonly CommitQueue _queue;
    private readonly SemaphoreSlim _prepare = new(1, 1);
    private readonly Dictionary<byte[], Pending> _overlay = new(ByteArrayComparer.Instance);
    private readonly Lock _overlayLock = new();
    private long _batchSeq;
    private bool _disposed;

    private ObjectStore(string path, RocksDb db, int chunkSize, ObjectStoreOptions options)
    {
        Path = path;
        _db = db;
        ChunkSize = chunkSize;
        _queue = new CommitQueue(db, options.Sync, options.MaxGroupSize);
        LoadLayouts();
    }

    public string Path { get; }

    /// <summary>Chunk size this store was created with.</summary>
    public int ChunkSize { get; }

    /// <summary>The group-commit queue (for its counters).</summary>
    public CommitQueue Queue => _queue;

    /// <summary>
    /// RocksDB tuned for this store: every write first reads the object's metadata and chunk, mostly absent for new
    /// objects, so whole-key bloom filters (memtable and tables) answer those misses without a search; chunk data is
    /// incompressible, so compressing it only costs CPU in every flush and compaction.
    /// </summary>
    private static DbOptions DbOptionsFor(ObjectStoreOptions options)
    {
        var table = new BlockBasedTableOptions()
            .SetFilterPolicy(BloomFilterPolicy.Create(10, false))
            .SetWholeKeyFiltering(true)
            .SetBlockCache(Cache.CreateLru((ulong)options.BlockCacheBytes).Handle)
            .SetCacheIndexAndFilterBlocks(true)
            .SetPinL0FilterAndIndexBlocksInCache(true);
        var db = new DbOptions()
            .SetCreateIfMissing(true)
            .SetBlockBasedTableFactory(table)
            .SetCompression(Compression.No)
            .SetMemtablePrefixBloomSizeRatio(0.1);
        // Overwrite old WAL files in place instead of growing new ones: a synced write into a file whose size does not
        // change needs no inode update (this ext4 has no journal: that is one more disk write per sync), and no
        // deleted WAL is discarded. Recovery stops at the first record of an older log, as after a torn tail.
        db.SetRecycleLogFileNum(4);
        Native.Instance.rocksdb_options_set_memtable_whole_key_filtering(db.Handle, 1);
        // Chunk data lives in blob files: compaction then moves keys and blob references, not the data (it was most of
        // an OSD's CPU under small overwrites); garbage collection relocates what is still live from the oldest files.
        Native.Instance.rocksdb_options_set_enable_blob_files(db.Handle, 1);
        Native.Instance.rocksdb_options_set_min_blob_size(db.Handle, 4096);
        Native.Instance.rocksdb_options_set_blob_file_size(db.Handle, 256UL << 20);
        Native.Instance.rocksdb_options_set_enable_blob_gc(db.Handle, 1);
        Native.Instance.rocksdb_options_set_blob_gc_age_cutoff(db.Handle, 0.25);
        return db;
    }

    /// <summary>Opens (creating if needed, parent directories too) the store at <paramref name="path"/>.</summary>
    public static ObjectStore Open(string path, ObjectStoreOptions? options = null)
    {
        options ??= new ObjectStoreOptions();
        if (options.ChunkSize < 512 || options.ChunkSize > 16 << 20) throw new ArgumentOutOfRangeException(nameof(options), "chunk size must be 512 B .. 16 MiB");
        Directory.CreateDirectory(path);
        var db = RocksDb.Open(DbOptionsFor(options), path);
        try
        {
            int chunkSize;
            var sb = db.Get(StoreKeys.SuperblockKey());
            if (sb is null)
            {
                chunkSize = options.ChunkSize;
                var v = new byte[8];
                BinaryPrimitives.WriteInt32LittleEndian(v, 1);
                BinaryPrimitives.WriteInt32LittleEndian(v.AsSpan(4), chunkSize);
                db.Put(StoreKeys.SuperblockKey(), v, null, new WriteOptions().SetSync(true));
            }
            else
            {
                if (sb.Length != 8 || BinaryPrimitives.ReadInt32LittleEndian(sb) != 1) throw new InvalidDataException($"{path}: unknown object store format");
                chunkSize = BinaryPrimitives.ReadInt32LittleEndian(sb.AsSpan(4));
            }
            return new ObjectStore(path, db, chunkSize, options);
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    // ---------------------------------------------------------------- commit

    /// <summary>Applies <paramref name="tx"/> as one atomic batch; completes when it is durable.</summary>
    public async Task CommitAsync(StoreTransaction tx, CancellationToken cancellationToken = default)
    {
        Task done;
        await _prepare.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var ctx = new TxContext(this, tx.Pg);
            foreach (var op in tx.Ops) ctx.Apply(tx, op);
            done = Enqueue(ctx);
        }
        finally
        {
            _prepare.Release();
        }
        await done.ConfigureAwait(false);
    }

    /// <summary>Completes when every transaction queued before it is durable.</summary>
    public Task FlushAsync() => _queue.CommitAsync(new StoreBatch());

    /// <summary>Deletes everything of <paramref name="pg"/> (objects, log, info) in one batch.</summary>
    public Task RemovePgAsync(PgId pg) =>
        Exclusive(() => new StoreBatch().DeleteRange(StoreKeys.PgPrefix(pg), StoreKeys.PgEnd(pg)));

    private Task Enqueue(TxContext ctx)
    {
        long id = ++_batchSeq;
        var written = ctx.Written;
        lock (_overlayLock)
        {
            foreach (var (k, v) in written)
            {
                if (_overlay.TryGetValue(k, out var p)) { p.Value = v; p.Batch = id; }
                else _overlay[k] = new Pending(v, id);
            }
        }
        return _queue.Enqueue(ctx.Batch, _ =>
        {
            lock (_overlayLock)
            {
                foreach (var k in written.Keys)
                    if (_overlay.TryGetValue(k, out var p) && p.Batch == id) _overlay.Remove(k);
            }
        });
    }

    /// <summary>Runs <paramref name="build"/> with no transaction in flight and commits its batch.</summary>
    private async Task<T> Exclusive<T>(Func<(StoreBatch Batch, T Result)> build)
    {
        await _prepare.WaitAsync().ConfigureAwait(false);
        Task done;
        T result;
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            await _queue.CommitAsync(new StoreBatch()).ConfigureAwait(false); // drains the queue: overlay is empty now
            (var batch, result) = build();
            done = _queue.CommitAsync(batch);
        }
        finally
        {
            _prepare.Release();
        }
        await done.ConfigureAwait(false);
        return result;
    }

    private Task Exclusive(Func<StoreBatch> build) => Exclusive(() => (build(), 0));

    private byte[]? GetCommittedOrPending(byte[] key)
    {
        lock (_overlayLock)
        {
            if (_overlay.TryGetValue(key, out var p)) return p.Value;
        }
        return _db.Get(key);
    }

    /// <summary>
    /// Every key under <paramref name="prefix"/>, pending or committed: the overlay is read first, then the DB, so a
    /// batch committing in between is seen in one or the other.
    /// </summary>
    private List<byte[]> KeysUnder(byte[] prefix)
    {
        var keys = new List<byte[]>();
        lock (_overlayLock)
        {
            foreach (var (k, p) in _overlay)
                if (p.Value is not null && k.AsSpan().StartsWith(prefix)) keys.Add(k);
        }
        using var v = OpenView();
        using var it = v.Range(prefix, StoreKeys.Successor(prefix));
        for (it.SeekToFirst(); it.Valid(); it.Next()) keys.Add(it.Key());
        return keys;
    }

    /// <summary>Prepares one transaction: point reads through its own writes, the overlay, then the DB.</summary>
    private sealed class TxContext(ObjectStore store, PgId pg)
    {
        public readonly StoreBatch Batch = new();
        public readonly Dictionary<byte[], byte[]?> Written = new(ByteArrayComparer.Instance);
        private readonly int _cs = store.ChunkSize;
        private StoreTransaction _tx = null!;

        private byte[]? Get(byte[] key) => Written.TryGetValue(key, out var v) ? v : store.GetCommittedOrPending(key);

        private void Put(byte[] key, byte[] value)
        {
            Written[key] = value;
            Batch.Put(key, value);
        }

        private void Delete(byte[] key)
        {
            Written[key] = null;
            Batch.Delete(key);
        }

        /// <summary>
        /// Deletes everything under <paramref name="prefix"/> key by key. Not by a range delete: each range tombstone
        /// stays in the memtable until flushed, and RocksDB re-fragments them all for the reads after every new one —
        /// removing objects ran at a quarter of the write rate and slowed the writes that followed by a third.
        /// </summary>
        private void DeleteUnder(byte[] prefix)
        {
            foreach (var k in store.KeysUnder(prefix))
                if (!Written.TryGetValue(k, out var w) || w is not null) Delete(k);
            foreach (var k in Written.Where(kv => kv.Value is not null && kv.Key.AsSpan().StartsWith(prefix)).Select(kv => kv.Key).ToList())
                Delete(k);
        }

        private bool Needed(ulong tag)
        {
            foreach (var s in _tx.Snaps.Snaps) if (s > tag) return true;
            return false;
        }

        public void Apply(StoreTransaction tx, StoreTransaction.Op op)
        {
            _tx = tx;
            if (op is StoreTransaction.ObjectOp { Name: var name } && op is not StoreTransaction.ReplaceObjectOp { Meta: null })
                store.CheckPlacement(pg, name);
            switch (op)
            {
                case StoreTransaction.WriteOp w: Write(w.Name, w.Offset, w.Data.Span); break;
                case StoreTransaction.WriteFullOp wf:
                    Truncate(wf.Name, 0);
                    Write(wf.Name, 0, wf.Data.Span);
                    break;
                case StoreTransaction.TruncateOp t: Truncate(t.Name, t.Size); break;
                case StoreTransaction.RemoveOp r: Remove(r.Name); break;
                case StoreTransaction.TouchOp t: SaveMeta(t.Name, OpenForWrite(t.Name)); break;
                case StoreTransaction.OmapSetOp o:
                    {
                        var m = OpenForWrite(o.Name);
                        var prefix = StoreKeys.ObjectPrefix(pg, o.Name);
                        foreach (var (k, v) in o.Pairs) Put(StoreKeys.OmapKey(prefix, k), v);
                        SaveMeta(o.Name, m);
                        break;
                    }
                case StoreTransaction.OmapRemoveOp o:
                    {
                        var m = OpenForWrite(o.Name);
                        var prefix = StoreKeys.ObjectPrefix(pg, o.Name);
                        foreach (var k in o.Keys) Delete(StoreKeys.OmapKey(prefix, k));
                        SaveMeta(o.Name, m);
                        break;
                    }
                case StoreTransaction.OmapClearOp o:
                    {
                        var m = OpenForWrite(o.Name);
                        ClearOmap(o.Name);
                        SaveMeta(o.Name, m);
                        break;
                    }
                case StoreTransaction.LogOp l: Put(StoreKeys.LogKey(pg, l.Entry.Version), LogCodec.Encode(l.Entry)); break;
                case StoreTransaction.InfoOp i: Put(StoreKeys.InfoKey(pg), i.Info); break;
                case StoreTransaction.TrimLogOp t:
                    Batch.DeleteRange(StoreKeys.LogKey(pg, PgVersion.Zero), StoreKeys.LogKey(pg, t.Below));
                    break;
                case StoreTransaction.ReplaceObjectOp r: ReplaceObject(r); break;
                case StoreTransaction.ResetLogOp l:
                    {
                        var log = StoreKeys.PgSub(pg, StoreKeys.Log);
                        Batch.DeleteRange(l.After == PgVersion.Zero ? log : StoreKeys.LogKey(pg, new PgVersion(l.After.Epoch, l.After.Seq + 1)), StoreKeys.Successor(log));
                        foreach (var e in l.Entries) Put(StoreKeys.LogKey(pg, e.Version), LogCodec.Encode(e));
                        break;
                    }
                default: throw new NotSupportedException(op.GetType().Name);
            }
        }

        private void ClearOmap(string name)
        {
            DeleteUnder(StoreKeys.Concat(StoreKeys.ObjectPrefix(pg, name), StoreKeys.Omap));
        }

        private MetaRecord? LoadMeta(string name) => Get(StoreKeys.MetaKey(pg, name)) is { } raw ? MetaRecord.Decode(raw) : null;

        private void SaveMeta(string name, MetaRecord m) => Put(StoreKeys.MetaKey(pg, name), m.Encode());

        /// <summary>Head metadata for a mutation: copy-on-write of the old version if a snapshot needs it.</summary>
        private MetaRecord OpenForWrite(string name)
        {
            var m = LoadMeta(name);
            ulong eff = Math.Max(_tx.Snaps.Seq, m?.Tag ?? 0);
            if (m is null) m = new MetaRecord();
            else if (m.Tag != eff && Needed(m.Tag))
            {
                Put(StoreKeys.OldMetaKey(StoreKeys.ObjectPrefix(pg, name), m.Tag), m.Encode());
                m.HasSnapVersions = true;
            }
            if (m.Whiteout)
            {
                m.Whiteout = false;
                m.Size = 0;
            }
            m.Tag = eff;
            m.Version = _tx.Version;
            m.MTimeTicks = _tx.MTime.UtcTicks;
            return m;
        }

        /// <summary>Replaces head chunk <paramref name="chunk"/> with <paramref name="data"/>; null punches it.</summary>
        private void SetChunk(string name, byte[] prefix, MetaRecord m, long chunk, ReadOnlySpan<byte> data, bool punch)
        {
            var key = StoreKeys.ChunkKey(prefix, chunk);
            var raw = Get(key);
            if (raw is null && punch) return;
            bool hasOlder = false;
            if (raw is not null)
            {
                var head = new ChunkRecord(raw);
                if (punch && head.DataLength == 0 && head.Tag == m.Tag) return;
                hasOlder = head.HasOlder;
                if (head.Tag != m.Tag && Needed(head.Tag))
                {
                    Put(StoreKeys.OldChunkKey(prefix, chunk, head.Tag), raw);
                    hasOlder = true;
                    m.HasSnapVersions = true;
                }
            }
            if (punch && !hasOlder) Delete(key);
            else Put(key, ChunkRecord.Encode(m.Tag, hasOlder, punch ? default : data));
        }

        private byte[] HeadChunkData(string name, byte[] prefix, long chunk)
        {
            if (Get(StoreKeys.ChunkKey(prefix, chunk)) is not { } raw) return [];
            var rec = new ChunkRecord(raw);
            rec.Verify(pg, name, chunk);
            return rec.Data.ToArray();
        }

        private void Write(string name, long offset, ReadOnlySpan<byte> data)
        {
            var m = OpenForWrite(name);
            var prefix = StoreKeys.ObjectPrefix(pg, name);
            long pos = offset;
            int done = 0;
            while (done < data.Length)
            {
                long chunk = pos / _cs;
                int inChunk = (int)(pos % _cs);
                int n = Math.Min(_cs - inChunk, data.Length - done);
                ReadOnlySpan<byte> content;
                if (inChunk == 0 && n == _cs) content = data.Slice(done, n);
                else
                {
                    var old = HeadChunkData(name, prefix, chunk);
                    var merged = new byte[Math.Max(old.Length, inChunk + n)];
                    old.CopyTo(merged, 0);
                    data.Slice(done, n).CopyTo(merged.AsSpan(inChunk));
                    content = merged;
                }
                SetChunk(name, prefix, m, chunk, content, punch: false);
                m.HighChunk = Math.Max(m.HighChunk, chunk + 1);
                pos += n;
                done += n;
            }
            if (data.Length > 0) m.Size = Math.Max(m.Size, offset + data.Length);
            SaveMeta(name, m);
        }

        private void Truncate(string name, long size)
        {
            var m = OpenForWrite(name);
            var prefix = StoreKeys.ObjectPrefix(pg, name);
            if (size < m.Size) PunchFrom(name, prefix, m, size);
            m.Size = size;
            SaveMeta(name, m);
        }

        /// <summary>Makes every byte at or after <paramref name="size"/> read as zero at head.</summary>
        private void PunchFrom(string name, byte[] prefix, MetaRecord m, long size)
        {
            long firstWhole = (size + _cs - 1) / _cs;
            int keep = (int)(size % _cs);
            if (keep != 0)
            {
                long boundary = size / _cs;
                var old = HeadChunkData(name, prefix, boundary);
                if (old.Length > keep) SetChunk(name, prefix, m, boundary, old.AsSpan(0, keep), punch: false);
            }
            for (long c = firstWhole; c < m.HighChunk; c++) SetChunk(name, prefix, m, c, default, punch: true);
        }

        private void ReplaceObject(StoreTransaction.ReplaceObjectOp r)
        {
            var prefix = StoreKeys.ObjectPrefix(pg, r.Name);
            // Everything of the old object goes; the puts after the deletes in the same batch survive them.
            Delete(StoreKeys.MetaKey(pg, r.Name));
            DeleteUnder(prefix);
            if (r.Meta is null) return;
            MetaRecord.Decode(r.Meta); // refuse garbage before it is stored
            foreach (var (suffix, value) in r.Records) Put([.. prefix, .. suffix], value);
            Put(StoreKeys.MetaKey(pg, r.Name), r.Meta);
        }

        private void Remove(string name)
        {
            var m = LoadMeta(name);
            if (m is null || m.Whiteout) return;
            ulong eff = Math.Max(_tx.Snaps.Seq, m.Tag);
            var prefix = StoreKeys.ObjectPrefix(pg, name);
            bool headNeeded = m.Tag != eff && Needed(m.Tag);
            if (!headNeeded && !m.HasSnapVersions)
            {
                // Nothing of it is visible to a snapshot: delete it all.
                Delete(StoreKeys.MetaKey(pg, name));
                DeleteUnder(prefix);
                return;
            }
            m = OpenForWrite(name);
            PunchFrom(name, prefix, m, 0);
            ClearOmap(name);
            m.Size = 0;
            m.Whiteout = true;
            SaveMeta(name, m);
        }
    }

    // ---------------------------------------------------------------- dispose

    public void Dispose()
    {
        if (_disposed) return;
        _prepare.Wait();
        try
        {
            _disposed = true;
            _queue.Dispose();
            _db.Dispose();
        }
        finally
        {
            _prepare.Release();
        }
    }

    internal RocksDb Db => _db;
}
