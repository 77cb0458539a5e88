using Rampart.Rados.Osd.Store;
using Rampart.Rados.Placement;
using Rampart.Rados.Tests.Store;

namespace Rampart.Rados.Tests.Osd;

/// <summary>The store side of recovery: an object image exported on one OSD and replaced into another, and log adoption.</summary>
public sealed class StoreRecoveryTests : IDisposable
{
    private const int Cs = 4096;
    private static readonly PgId Pg = new(4, 0x2a);
    private static readonly PgId OtherPg = new(4, 0x2b);
    private readonly TempStore _source = new(new ObjectStoreOptions { ChunkSize = Cs });
    private readonly TempStore _target = new(new ObjectStoreOptions { ChunkSize = Cs });
    private ulong _seq;

    private ObjectStore Src => _source.Store;
    private ObjectStore Dst => _target.Store;

    public void Dispose()
    {
        _source.Dispose();
        _target.Dispose();
    }

    private StoreTransaction Tx(SnapContext? snaps = null) => new(Pg, new PgVersion(5, ++_seq), snaps);

    private static PgLogEntry E(uint epoch, ulong seq, string obj) =>
        new(new PgVersion(epoch, seq), PgLogOp.Modify, obj, $"client.1:{seq}", new PgVersion(epoch, seq - 1));

    /// <summary>"img": three chunks plus a bit at snapshot 1, then overwritten and grown at head; omap too.</summary>
    private async Task<(byte[] AtSnap, byte[] AtHead)> WriteSnapshottedObjectAsync(ObjectStore store)
    {
        var old = Bytes.Pattern(3 * Cs + 100, 21);
        await store.CommitAsync(Tx().Write("img", 0, old).OmapSet("img", [new("a", [1]), new("b", Bytes.Pattern(50, 22))]));
        var patch = Bytes.Pattern(Cs, 23);
        await store.CommitAsync(Tx(new SnapContext(1, [1])).Write("img", Cs / 2, patch).Write("img", 4 * Cs, [9, 9]).OmapSet("img", "c", [3]));
        var head = new byte[4 * Cs + 2];
        old.CopyTo(head, 0);
        patch.CopyTo(head, Cs / 2);
        head[4 * Cs] = head[4 * Cs + 1] = 9;
        Assert.Equal(head, store.Read(Pg, "img", 0, head.Length));
        Assert.Equal(old, store.Read(Pg, "img", 0, head.Length, snap: 1));
        return (old, head);
    }

    /// <summary>Omap as "key=hex" strings, so collections compare by content.</summary>
    private static List<string> Omap(ObjectStore s, string name) =>
        s.OmapList(Pg, name).Entries.Select(e => e.Key + "=" + Convert.ToHexString(e.Value)).ToList();

    private static void AssertSameRecords(List<KeyValuePair<byte[], byte[]>> expected, List<KeyValuePair<byte[], byte[]>> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Key, actual[i].Key);
            Assert.Equal(expected[i].Value, actual[i].Value);
        }
    }

    private async Task ReplaceAsync(ObjectStore store, string name, byte[]? meta, IReadOnlyList<KeyValuePair<byte[], byte[]>> records) =>
        await store.CommitAsync(new StoreTransaction(Pg, PgVersion.Zero).ReplaceObject(name, meta, records));

    [Fact]
    public async Task Exported_object_replaced_into_another_store_reads_the_same_at_head_and_at_the_snapshot()
    {
        var (atSnap, atHead) = await WriteSnapshottedObjectAsync(Src);
        var (meta, records) = Src.ExportObject(Pg, "img");
        Assert.NotNull(meta);
        Assert.Contains(records, r => r.Key[0] == (byte)'V'); // the snapshot's chunk version travels too

        await ReplaceAsync(Dst, "img", meta, records);

        Assert.Equal(atHead, Dst.Read(Pg, "img", 0, atHead.Length + 10));
        Assert.Equal(atSnap, Dst.Read(Pg, "img", 0, atHead.Length + 10, snap: 1));
        Assert.Equal(Src.Stat(Pg, "img"), Dst.Stat(Pg, "img"));
        Assert.Equal(Src.Stat(Pg, "img", 1), Dst.Stat(Pg, "img", 1));
        Assert.Equal(atHead.Length, Dst.Stat(Pg, "img")!.Size);
        Assert.Equal(atSnap.Length, Dst.Stat(Pg, "img", 1)!.Size);
        Assert.Equal(Omap(Src, "img"), Omap(Dst, "img"));
        Assert.Equal(["a", "b", "c"], Dst.OmapList(Pg, "img").Entries.Select(e => e.Key));
        Assert.Equal(Src.CountChunkVersions(Pg, "img"), Dst.CountChunkVersions(Pg, "img"));
        Assert.Equal(["img"], Dst.ListObjects(Pg).Names);
        Assert.Equal(Src.DeepScrub(Pg).Objects, Dst.DeepScrub(Pg).Objects);

        // Snapshot trim on the copy behaves as on the original: the copy carries its snapshot bookkeeping.
        int trimmed = await Dst.TrimSnapsAsync(Pg, []);
        Assert.Equal(await Src.TrimSnapsAsync(Pg, []), trimmed);
        Assert.True(trimmed > 0);
        Assert.Equal(0, Dst.CountChunkVersions(Pg, "img").Old);
        Assert.Equal(atHead, Dst.Read(Pg, "img", 0, atHead.Length));
    }

    [Fact]
    public async Task Replace_overwrites_everything_a_divergent_copy_had()
    {
        var (atSnap, atHead) = await WriteSnapshottedObjectAsync(Src);
        var (meta, records) = Src.ExportObject(Pg, "img");

        // The target's divergent copy: bigger, other omap keys, its own snapshot versions.
        await Dst.CommitAsync(Tx().Write("img", 0, Bytes.Pattern(8 * Cs, 30)).OmapSet("img", "stale", [7]));
        await Dst.CommitAsync(Tx(new SnapContext(2, [2])).Write("img", 6 * Cs, Bytes.Pattern(Cs, 31)));
        await Dst.CommitAsync(Tx().Write("neighbour", 0, [1, 2, 3]));

        await ReplaceAsync(Dst, "img", meta, records);

        var (meta2, records2) = Dst.ExportObject(Pg, "img");
        Assert.Equal(meta, meta2);
        AssertSameRecords(records, records2); // nothing of the divergent copy is left under the object
        Assert.Equal(atHead, Dst.Read(Pg, "img", 0, 10 * Cs));
        Assert.Equal(atSnap, Dst.Read(Pg, "img", 0, 10 * Cs, snap: 1));
        Assert.Equal(["a", "b", "c"], Dst.OmapList(Pg, "img").Entries.Select(e => e.Key));
        Assert.Equal([1, 2, 3], Dst.Read(Pg, "neighbour", 0, 10));

        // Growing the replaced object must show zeros, not chunks the divergent copy had past the new size.
        await Dst.CommitAsync(Tx().Truncate("img", 8 * Cs));
        Assert.All(Dst.Read(Pg, "img", 0, 8 * Cs)[atHead.Length..], b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task Replace_followed_by_writes_in_the_same_group_commit_sees_the_replaced_object()
    {
        var (_, atHead) = await WriteSnapshottedObjectAsync(Src);
        var (meta, records) = Src.ExportObject(Pg, "img");
        await Dst.CommitAsync(Tx().Write("img", 0, Bytes.Pattern(8 * Cs, 40)));

        // Not awaited in between: the write is prepared while the replace may still be pending in the queue.
        var replace = Dst.CommitAsync(new StoreTransaction(Pg, PgVersion.Zero).ReplaceObject("img", meta, records));
        var write = Dst.CommitAsync(Tx().Write("img", 10, [0xAB]));
        await Task.WhenAll(replace, write);

        atHead[10] = 0xAB;
        Assert.Equal(atHead, Dst.Read(Pg, "img", 0, 10 * Cs));
    }

    [Fact]
    public async Task Replace_with_null_meta_removes_the_object_and_everything_under_it()
    {
        await WriteSnapshottedObjectAsync(Dst);
        await Dst.CommitAsync(Tx().Write("keep", 0, [5]));

        await ReplaceAsync(Dst, "img", null, []);

        Assert.Null(Dst.Stat(Pg, "img"));
        Assert.Null(Dst.Stat(Pg, "img", 1));
        Assert.Throws<ObjectNotFoundException>(() => Dst.Read(Pg, "img", 0, 1));
        Assert.Throws<ObjectNotFoundException>(() => Dst.Read(Pg, "img", 0, 1, snap: 1));
        Assert.Equal(["keep"], Dst.ListObjects(Pg).Names);
        Assert.Equal((0, 0), Dst.CountChunkVersions(Pg, "img"));
        var (meta, records) = Dst.ExportObject(Pg, "img");
        Assert.Null(meta);
        Assert.Empty(records);

        // Recreated, it starts empty: no omap or data left over from before.
        await Dst.CommitAsync(Tx().Touch("img"));
        Assert.Empty(Dst.OmapList(Pg, "img").Entries);
        Assert.Equal(0, Dst.Stat(Pg, "img")!.Size);

        // Removing an object that does not exist is a no-op.
        await ReplaceAsync(Dst, "never", null, []);
        Assert.Null(Dst.Stat(Pg, "never"));
    }

    [Fact]
    public async Task Export_of_an_absent_object_has_no_meta_and_replacing_with_it_deletes()
    {
        await WriteSnapshottedObjectAsync(Dst);
        var (meta, records) = Src.ExportObject(Pg, "img"); // the source never had it (deleted there)
        Assert.Null(meta);
        Assert.Empty(records);
        await ReplaceAsync(Dst, "img", meta, records);
        Assert.Null(Dst.Stat(Pg, "img"));
    }

    [Fact]
    public async Task Export_refuses_a_corrupt_head_chunk()
    {
        await WriteSnapshottedObjectAsync(Src);
        Src.CorruptChunkForTesting(Pg, "img", 2);
        var e = Assert.Throws<ChunkCorruptException>(() => Src.ExportObject(Pg, "img"));
        Assert.Equal(("img", 2L), (e.ObjectName, e.ChunkIndex));
    }

    [Fact]
    public async Task Export_refuses_a_corrupt_snapshot_chunk_version()
    {
        await WriteSnapshottedObjectAsync(Src);
        Src.CorruptChunkForTesting(Pg, "img", 0, snapTag: 0);
        Assert.Throws<ChunkCorruptException>(() => Src.Read(Pg, "img", 0, 10, snap: 1));
        Src.Read(Pg, "img", 0, 4 * Cs); // head itself is intact
        var e = Assert.Throws<ChunkCorruptException>(() => Src.ExportObject(Pg, "img"));
        Assert.Equal((0L, 0UL), (e.ChunkIndex, e.SnapTag));
    }

    [Fact]
    public async Task Reset_log_replaces_the_whole_log()
    {
        Assert.Null(Dst.LogHead(Pg));
        var tx = Tx();
        for (ulong i = 1; i <= 6; i++) tx.AppendLog(E(6, i, $"o{i}"));
        await Dst.CommitAsync(tx.Write("o1", 0, [1]));
        await Dst.CommitAsync(new StoreTransaction(OtherPg, new PgVersion(6, 1)).AppendLog(E(6, 1, "x")).AppendLog(E(9, 1, "x")));
        Assert.Equal(new PgVersion(6, 6), Dst.LogHead(Pg)!.Version);

        // The authoritative log is older than some of ours (our 6'x entries were divergent) and starts elsewhere.
        PgLogEntry[] auth = [E(5, 3, "a"), E(5, 4, "b"), E(6, 2, "o2"), E(6, 3, "c")];
        await Dst.CommitAsync(new StoreTransaction(Pg, new PgVersion(6, 3)).ResetLog(auth));

        Assert.Equal(auth, Dst.ReadLog(Pg));
        Assert.Equal(auth[^1], Dst.LogHead(Pg));
        Assert.Equal(auth[2..], Dst.ReadLog(Pg, new PgVersion(5, 4)));
        Assert.Null(Dst.FindLogEntry(Pg, "client.1:6"));
        // Other PGs' logs and this PG's objects are untouched.
        Assert.Equal([new PgVersion(6, 1), new PgVersion(9, 1)], Dst.ReadLog(OtherPg).Select(e => e.Version));
        Assert.Equal(new PgVersion(9, 1), Dst.LogHead(OtherPg)!.Version);
        Assert.Equal([1], Dst.Read(Pg, "o1", 0, 1));

        _target.Reopen();
        Assert.Equal(auth, Dst.ReadLog(Pg));
        Assert.Equal(auth[^1], Dst.LogHead(Pg));

        await Dst.CommitAsync(new StoreTransaction(Pg, PgVersion.Zero).ResetLog([]));
        Assert.Empty(Dst.ReadLog(Pg));
        Assert.Null(Dst.LogHead(Pg));
        Assert.Equal(2, Dst.ReadLog(OtherPg).Count);
    }

    [Fact]
    public async Task Reset_log_after_a_version_keeps_the_shared_prefix_and_replaces_the_rest()
    {
        // Ours: 5'1 5'2 shared with the authority, then 5'3 5'4 divergent; the authority went on at epoch 6.
        await Dst.CommitAsync(Tx().AppendLog(E(5, 1, "a")).AppendLog(E(5, 2, "b")).AppendLog(E(5, 3, "x")).AppendLog(E(5, 4, "y")));
        await Dst.CommitAsync(new StoreTransaction(OtherPg, new PgVersion(5, 9)).AppendLog(E(5, 9, "z")));
        PgLogEntry[] rest = [E(6, 3, "c"), E(6, 4, "d")];
        await Dst.CommitAsync(new StoreTransaction(Pg, new PgVersion(6, 4)).ResetLog(rest, after: new PgVersion(5, 2)));
        Assert.Equal([E(5, 1, "a"), E(5, 2, "b"), .. rest], Dst.ReadLog(Pg));
        Assert.Equal(rest[^1], Dst.LogHead(Pg));
        Assert.Equal([E(5, 9, "z")], Dst.ReadLog(OtherPg));
    }

    [Fact]
    public async Task Reset_log_then_append_in_one_transaction_keeps_both()
    {
        await Dst.CommitAsync(Tx().AppendLog(E(7, 1, "old")).AppendLog(E(7, 2, "old")));
        PgLogEntry[] auth = [E(5, 1, "a")];
        await Dst.CommitAsync(new StoreTransaction(Pg, new PgVersion(5, 2)).ResetLog(auth).AppendLog(E(5, 2, "b")));
        Assert.Equal([E(5, 1, "a"), E(5, 2, "b")], Dst.ReadLog(Pg));
        Assert.Equal(E(5, 2, "b"), Dst.LogHead(Pg));
    }

    [Fact]
    public async Task Log_head_is_the_newest_entry_by_version_not_by_insertion()
    {
        await Dst.CommitAsync(Tx().AppendLog(E(7, 300, "x")).Write("zzz", 0, [1]));
        await Dst.CommitAsync(Tx().AppendLog(E(7, 2, "y")));
        await Dst.CommitAsync(Tx().AppendLog(E(6, 900, "z")));
        Assert.Equal(new PgVersion(7, 300), Dst.LogHead(Pg)!.Version);
        Assert.Equal([new PgVersion(6, 900), new PgVersion(7, 2), new PgVersion(7, 300)], Dst.ReadLog(Pg).Select(e => e.Version));
    }
}
