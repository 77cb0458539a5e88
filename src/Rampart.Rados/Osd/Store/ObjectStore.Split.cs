using Rampart.Rados.Placement;
using System.Buffers.Binary;
using System.Collections.Concurrent;

namespace Rampart.Rados.Osd.Store;

/// <summary>The pg_num a pool's objects are placed by in this store, and the epoch of the split that set it.</summary>
public readonly record struct PoolLayout(uint PgNum, long SplitEpoch);

/// <summary>A write of an object into a PG it no longer belongs to (the pool's pg_num grew meanwhile): the client resends.</summary>
public sealed class MisplacedObjectException(string message) : InvalidOperationException(message);

/*
 * PG splitting. A pool's layout ('N' pool:u64 → pg_num, split epoch) says which pg_num placed its objects here.
 * When the map's pg_num grows, every PG is split in place: each object whose PG under the new pg_num differs
 * (always a child of the old PG, by stable_mod) moves to that child with all its keys (chunks, snapshots, omap),
 * and every child starts with a copy of its parent's info and log — the same history on every OSD, so peering
 * compares children like any PG, and a resend of a write made before the split is still recognised.
 * Once the layout is recorded, a write that would put an object in the wrong PG is refused: a write from before
 * the split arriving late can never land beside the moved object.
 */
public sealed partial class ObjectStore
{
    private readonly ConcurrentDictionary<long, PoolLayout> _layouts = new();

    private static byte[] LayoutKey(long pool)
    {
        var k = new byte[9];
        k[0] = StoreKeys.Layout;
        BinaryPrimitives.WriteUInt64BigEndian(k.AsSpan(1), (ulong)pool);
        return k;
    }

    private static byte[] EncodeLayout(PoolLayout layout)
    {
        var v = new byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(v, layout.PgNum);
        BinaryPrimitives.WriteInt64LittleEndian(v.AsSpan(4), layout.SplitEpoch);
        return v;
    }

    private void LoadLayouts()
    {
        using var v = OpenView();
        using var it = v.Range([StoreKeys.Layout], [StoreKeys.Layout + 1]);
        for (it.SeekToFirst(); it.Valid(); it.Next())
        {
            var key = it.Key();
            var value = it.Value();
            if (key.Length != 9 || value.Length != 12)
                throw new InvalidDataException($"{Path}: malformed pool layout record");
            _layouts[(long)BinaryPrimitives.ReadUInt64BigEndian(key.AsSpan(1))] =
                new PoolLayout(BinaryPrimitives.ReadUInt32LittleEndian(value), BinaryPrimitives.ReadInt64LittleEndian(value.AsSpan(4)));
        }
    }

    /// <summary>The layout recorded for <paramref name="pool"/>, or null when this store has not seen the pool yet.</summary>
    public PoolLayout? Layout(long pool) => _layouts.TryGetValue(pool, out var layout) ? layout : null;

    /// <summary>
    /// Brings the pool's objects to <paramref name="pgNum"/>: records the layout when the pool is new here, splits
    /// every local PG when pg_num grew. Returns how many objects moved. Each PG splits in one atomic batch and the layout
    /// is recorded last, so a split interrupted by a crash is finished by the next call. Writes wait meanwhile.
    /// </summary>
    public async Task<long> EnsureLayoutAsync(long pool, uint pgNum, long splitEpoch)
    {
        var current = Layout(pool);
        if (current is { } c && c.PgNum >= pgNum)
            return 0;
        await _prepare.WaitAsync().ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            await _queue.CommitAsync(new StoreBatch()).ConfigureAwait(false); // drains the queue: the overlay is empty
            long moved = 0;
            if (current is { } old)
            {
                foreach (var parent in ListPgs().Where(p => p.PoolId == pool))
                {
                    var (batch, objects) = SplitBatch(parent, old.PgNum, pgNum);
                    await _queue.CommitAsync(batch).ConfigureAwait(false);
                    moved += objects;
                }
            }
            var layout = new PoolLayout(pgNum, splitEpoch);
            await _queue.CommitAsync(new StoreBatch().Put(LayoutKey(pool), EncodeLayout(layout))).ConfigureAwait(false);
            _layouts[pool] = layout;
            return moved;
        }
        finally
        {
            _prepare.Release();
        }
    }

    /// <summary>
    /// One atomic batch that moves <paramref name="parent"/>'s misplaced objects to its children and gives every child
    /// the parent's info and log (returns how many objects moved): a reader (a peer pulling an object, a scrub) sees each object whole, in one PG.
    /// </summary>
    private (StoreBatch Batch, long Moved) SplitBatch(PgId parent, uint from, uint to)
    {
        var batch = new StoreBatch();
        long moved = 0;
        var children = ObjectLocator.Children(parent, from, to).ToList();
        if (children.Count == 0)
            return (batch, 0);
        using var v = OpenView();
        foreach (var type in new[] { StoreKeys.Info, StoreKeys.Log, StoreKeys.Meta, StoreKeys.Obj })
        {
            var prefix = StoreKeys.PgSub(parent, type);
            using var it = v.Range(prefix, StoreKeys.Successor(prefix));
            string? lastName = null;
            PgId target = parent;
            for (it.SeekToFirst(); it.Valid(); it.Next())
            {
                var key = it.Key();
                if (type is StoreKeys.Info or StoreKeys.Log)
                {
                    var copy = it.Value();
                    foreach (var child in children)
                        batch.Put(Rekey(key, child), copy);
                    continue;
                }
                // Head metadata ('M' name*), then every other key of an object ('O' name* …): each goes where its name now hashes.
                string name = StoreKeys.DecodeName(key.AsSpan(StoreKeys.PgPrefixLength + 1), out _);
                if (name != lastName)
                {
                    lastName = name;
                    target = ObjectLocator.Locate(parent.PoolId, name, to);
                    if (target != parent && type == StoreKeys.Meta)
                        moved++;
                }
                if (target != parent)
                    batch.Put(Rekey(key, target), it.Value()).Delete(key);
            }
        }
        return (batch, moved);
    }

    private static byte[] Rekey(byte[] key, PgId pg)
    {
        var k = (byte[])key.Clone();
        StoreKeys.WritePg(k, pg);
        return k;
    }

    /// <summary>Refuses to store <paramref name="name"/> in <paramref name="pg"/> when the pool's layout places it elsewhere.</summary>
    private void CheckPlacement(PgId pg, string name)
    {
        if (_layouts.TryGetValue(pg.PoolId, out var layout) && ObjectLocator.Locate(pg.PoolId, name, layout.PgNum) is var home && home != pg)
            throw new MisplacedObjectException($"Error EAGAIN: object '{name}' belongs to pg {home}, not {pg} (pool pg_num {layout.PgNum})");
    }
}
