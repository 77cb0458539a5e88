using Rampart.Rados.Placement;
using Rampart.Common.Hashing;
using Rampart.Rados.Osd.Store;

namespace Rampart.Rados.Tests.Store;

public sealed class ObjectStoreTests : IDisposable
{
    private const int Cs = 4096;
    private static readonly PgId Pg = new(3, 0x1f);
    private readonly TempStore _t = new();
    private ObjectStore S => _t.Store;
    private ulong _seq;

    public void Dispose() => _t.Dispose();

    private StoreTransaction Tx(SnapContext? snaps = null) => new(Pg, new PgVersion(5, ++_seq), snaps);

    [Fact]
    public void Crc32C_check_value()
    {
        var data = "123456789"u8;
        Assert.Equal(0xE3069283u, Crc32C.Compute(data));
        Assert.Equal(0xE3069283u, Crc32C.ComputeWithTable(data));
        var big = Bytes.Pattern(1000, 1);
        Assert.Equal(Crc32C.ComputeWithTable(big), Crc32C.Compute(big));
        Assert.Equal(Crc32C.Compute(big), Crc32C.Append(Crc32C.Compute(big.AsSpan(0, 333)), big.AsSpan(333)));
        Assert.Equal(Crc32C.Compute(new byte[700]), Crc32C.AppendZeros(0, 700));
    }

    [Fact]
    public async Task Write_read_overwrite_partial_and_thin()
    {
        var a = Bytes.Pattern(3 * Cs + 100, 1);
        await S.CommitAsync(Tx().Write("obj", 0, a));
        Assert.Equal(a, S.Read(Pg, "obj", 0, a.Length + 50));
        var stat = S.Stat(Pg, "obj")!;
        Assert.Equal(a.Length, stat.Size);
        Assert.Equal(new PgVersion(5, 1), stat.Version);

        // Partial overwrite across a chunk boundary.
        var b = Bytes.Pattern(200, 2);
        await S.CommitAsync(Tx().Write("obj", Cs - 100, b));
        b.CopyTo(a, Cs - 100);
        Assert.Equal(a, S.Read(Pg, "obj", 0, a.Length));
        Assert.Equal(b, S.Read(Pg, "obj", Cs - 100, 200));

        // Thin: a write far out leaves a hole of zeros.
        var c = Bytes.Pattern(10, 3);
        long far = 10L * Cs + 7;
        await S.CommitAsync(Tx().Write("obj", far, c));
        Assert.Equal(far + 10, S.Stat(Pg, "obj")!.Size);
        var hole = S.Read(Pg, "obj", a.Length, (int)(far - a.Length));
        Assert.All(hole, x => Assert.Equal(0, x));
        Assert.Equal(c, S.Read(Pg, "obj", far, 100));
        Assert.Equal(5, S.CountChunkVersions(Pg, "obj").Head); // chunks 0..3 and 10

        Assert.Empty(S.Read(Pg, "obj", far + 10, 10));
        Assert.Throws<ObjectNotFoundException>(() => S.Read(Pg, "nope", 0, 1));
        Assert.Null(S.Stat(Pg, "nope"));
    }

    [Fact]
    public async Task Write_full_truncate_grow_and_shrink()
    {
        var a = Bytes.Pattern(3 * Cs, 4);
        await S.CommitAsync(Tx().WriteFull("o", a));
        await S.CommitAsync(Tx().Truncate("o", Cs + 10));
        Assert.Equal(Cs + 10, S.Stat(Pg, "o")!.Size);
        Assert.Equal(a.AsSpan(0, Cs + 10).ToArray(), S.Read(Pg, "o", 0, 10 * Cs));
        Assert.Equal(2, S.CountChunkVersions(Pg, "o").Head);

        // Grow: the cut-off bytes must come back as zeros, not as the old data.
        await S.CommitAsync(Tx().Truncate("o", 3 * Cs));
        var r = S.Read(Pg, "o", 0, 3 * Cs);
        Assert.Equal(a.AsSpan(0, Cs + 10).ToArray(), r[..(Cs + 10)]);
        Assert.All(r[(Cs + 10)..], x => Assert.Equal(0, x));

        var small = Bytes.Pattern(5, 5);
        await S.CommitAsync(Tx().WriteFull("o", small));
        Assert.Equal(small, S.Read(Pg, "o", 0, 100));
        Assert.Equal(1, S.CountChunkVersions(Pg, "o").Head);
    }

    [Fact]
    public async Task Omap_set_get_list_paged_remove_clear()
    {
        var tx = Tx();
        for (int i = 0; i < 25; i++) tx.OmapSet("hdr", $"k{i:D2}", [(byte)i]);
        await S.CommitAsync(tx);
        Assert.Equal(0, S.Stat(Pg, "hdr")!.Size);
        var got = S.OmapGet(Pg, "hdr", ["k03", "k24", "missing"]);
        Assert.Equal(2, got.Count);
        Assert.Equal([3], got["k03"]);

        var keys = new List<string>();
        string? after = null;
        while (true)
        {
            var page = S.OmapList(Pg, "hdr", after, 10);
            keys.AddRange(page.Entries.Select(e => e.Key));
            if (!page.More) break;
            after = page.Entries[^1].Key;
        }
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"k{i:D2}"), keys);

        await S.CommitAsync(Tx().OmapRemove("hdr", ["k00", "k01"]));
        Assert.Equal(23, S.OmapList(Pg, "hdr").Entries.Count);
        await S.CommitAsync(Tx().OmapClear("hdr").OmapSet("hdr", "only", [9]));
        Assert.Equal(["only"], S.OmapList(Pg, "hdr").Entries.Select(e => e.Key));
        Assert.Throws<ObjectNotFoundException>(() => S.OmapList(Pg, "nope"));
    }

    [Fact]
    public async Task List_objects_paged_and_pgs()
    {
        var names = Enumerable.Range(0, 37).Select(i => $"rbd_data.{i:D3}").Append("a\0b").Append("a").Append("é").ToList();
        var tx = Tx();
        foreach (var n in names) tx.Write(n, 0, [1]);
        await S.CommitAsync(tx);
        await S.CommitAsync(new StoreTransaction(new PgId(3, 0x20), new PgVersion(1, 1)).Touch("other"));
        await S.CommitAsync(new StoreTransaction(new PgId(1, 0), new PgVersion(1, 1)).Touch("x"));
        await S.CommitAsync(Tx().Remove("rbd_data.005"));
        names.Remove("rbd_data.005");

        var listed = new List<string>();
        string? cursor = null;
        do
        {
            var page = S.ListObjects(Pg, cursor, 7);
            Assert.True(page.Names.Count <= 7);
            listed.AddRange(page.Names);
            cursor = page.Next;
        } while (cursor is not null);
        names.Sort(StringComparer.Ordinal);
        Assert.Equal(names, listed);
        Assert.Equal([new PgId(1, 0), Pg, new PgId(3, 0x20)], S.ListPgs());

        await S.RemovePgAsync(Pg);
        Assert.Empty(S.ListObjects(Pg).Names);
        Assert.Equal([new PgId(1, 0), new PgId(3, 0x20)], S.ListPgs());
    }

    [Fact]
    public async Task Corrupt_chunk_is_detected_on_read_and_by_scrub()
    {
        var a = Bytes.Pattern(2 * Cs, 6);
        await S.CommitAsync(Tx().Write("good", 0, a).Write("bad", 0, a));
        var clean = S.DeepScrub(Pg);
        Assert.Empty(clean.Errors);
        Assert.Equal(clean.Objects[0].DataDigest, clean.Objects[1].DataDigest);
        Assert.Equal(Crc32C.Compute(a), clean.Objects[0].DataDigest);

        S.CorruptChunkForTesting(Pg, "bad", 1);
        var e = Assert.Throws<ChunkCorruptException>(() => S.Read(Pg, "bad", 0, 2 * Cs));
        Assert.Equal("bad", e.ObjectName);
        Assert.Equal(1, e.ChunkIndex);
        Assert.Equal(a.AsSpan(0, Cs).ToArray(), S.Read(Pg, "bad", 0, Cs)); // chunk 0 is fine

        var report = S.DeepScrub(Pg);
        var err = Assert.Single(report.Errors);
        Assert.Equal(("bad", 1L), (err.ObjectName, err.ChunkIndex));
        Assert.NotEqual(report.Objects.Single(o => o.Name == "good").DataDigest, report.Objects.Single(o => o.Name == "bad").DataDigest);

        // Repair = rewrite from a good copy.
        await S.CommitAsync(Tx().WriteFull("bad", a));
        Assert.Empty(S.DeepScrub(Pg).Errors);
    }

    [Fact]
    public async Task Scrub_checks_snapshot_versions_too()
    {
        await S.CommitAsync(Tx().Write("o", 0, Bytes.Pattern(Cs, 11)));
        await S.CommitAsync(Tx(new SnapContext(1, [1])).Write("o", 0, [1]));
        S.CorruptChunkForTesting(Pg, "o", 0, snapTag: 0);
        Assert.Equal(1, S.Read(Pg, "o", 0, 1)[0]);
        Assert.Throws<ChunkCorruptException>(() => S.Read(Pg, "o", 0, 1, snap: 1));
        Assert.Equal(0UL, Assert.Single(S.DeepScrub(Pg).Errors).SnapTag);
    }

    [Fact]
    public async Task Scrub_digest_counts_holes_as_zeros()
    {
        await S.CommitAsync(Tx().Write("thin", 3 * Cs, [7, 7]));
        var logical = new byte[3 * Cs + 2];
        logical[^1] = logical[^2] = 7;
        Assert.Equal(Crc32C.Compute(logical), S.DeepScrub(Pg).Objects.Single().DataDigest);
    }

    [Fact]
    public async Task Snapshot_read_sees_old_data_and_cow_copies_one_chunk()
    {
        var a = Bytes.Pattern(8 * Cs, 7);
        await S.CommitAsync(Tx().Write("img", 0, a));
        // Snapshot 1 taken; writes now carry seq 1, snaps {1}.
        var snapc = new SnapContext(1, [1]);
        var b = Bytes.Pattern(100, 8);
        await S.CommitAsync(Tx(snapc).Write("img", 2 * Cs + 5, b));
        Assert.Equal((8, 1), S.CountChunkVersions(Pg, "img"));
        // A second write in the same snapshot interval copies nothing more.
        await S.CommitAsync(Tx(snapc).Write("img", 2 * Cs + 500, b));
        Assert.Equal((8, 1), S.CountChunkVersions(Pg, "img"));

        Assert.Equal(a, S.Read(Pg, "img", 0, a.Length, snap: 1));
        var head = S.Read(Pg, "img", 0, a.Length);
        Assert.Equal(b, head.AsSpan(2 * Cs + 5, 100).ToArray());
        Assert.Equal(new PgVersion(5, 1), S.Stat(Pg, "img", 1)!.Version);
        Assert.Equal(new PgVersion(5, 3), S.Stat(Pg, "img")!.Version);

        // Snapshot 2; shrink then grow: snap 1 and snap 2 keep their content, head reads zeros.
        var snapc2 = new SnapContext(2, [2, 1]);
        await S.CommitAsync(Tx(snapc2).Truncate("img", Cs).Truncate("img", 8 * Cs));
        Assert.Equal(a, S.Read(Pg, "img", 0, a.Length, snap: 1));
        Assert.Equal(head, S.Read(Pg, "img", 0, a.Length, snap: 2));
        var now = S.Read(Pg, "img", 0, a.Length);
        Assert.Equal(a.AsSpan(0, Cs).ToArray(), now[..Cs]);
        Assert.All(now[Cs..], x => Assert.Equal(0, x));

        // A snapshot taken after the shrink must not fall through to older versions.
        var snapc3 = new SnapContext(3, [3, 2, 1]);
        await S.CommitAsync(Tx(snapc3).Write("img", 0, [1]));
        var at3 = S.Read(Pg, "img", 0, a.Length, snap: 3);
        Assert.All(at3[Cs..], x => Assert.Equal(0, x));

        // Object did not exist before its first write.
        await S.CommitAsync(Tx(snapc3).Write("new", 0, [1]));
        Assert.Null(S.Stat(Pg, "new", 3));
        Assert.NotNull(S.Stat(Pg, "new", 4));
    }

    [Fact]
    public async Task Remove_queued_behind_uncommitted_writes_of_the_object_leaves_nothing_of_them()
    {
        // Each remove is prepared while the write before it may still wait for its sync: the remove must
        // find that write's chunks and omap keys in the pending overlay, not only in the DB.
        var commits = new List<Task>();
        for (int i = 0; i < 20; i++)
        {
            string name = $"o{i}";
            commits.Add(S.CommitAsync(Tx().Write(name, 0, Bytes.Pattern(2 * Cs, i)).OmapSet(name, "k", [1]).OmapSet(name, "j", [2])));
            commits.Add(S.CommitAsync(Tx().Remove(name)));
            commits.Add(S.CommitAsync(Tx().Touch(name)));
        }
        await Task.WhenAll(commits);
        for (int i = 0; i < 20; i++)
        {
            Assert.Equal(0, S.Stat(Pg, $"o{i}")!.Size);
            Assert.Empty(S.Read(Pg, $"o{i}", 0, 2 * Cs));
            Assert.Empty(S.OmapList(Pg, $"o{i}").Entries);
        }
    }

    [Fact]
    public async Task Remove_keeps_whiteout_for_snapshot_and_trim_cleans_up()
    {
        var a = Bytes.Pattern(2 * Cs, 9);
        await S.CommitAsync(Tx().Write("o", 0, a).OmapSet("o", "k", [1]));
        await S.CommitAsync(Tx(new SnapContext(1, [1])).Remove("o"));
        Assert.Null(S.Stat(Pg, "o"));
        Assert.Empty(S.ListObjects(Pg).Names);
        Assert.Equal(a, S.Read(Pg, "o", 0, a.Length, snap: 1));
        Assert.Null(S.Stat(Pg, "o", 2));

        // Recreate: head is new, snapshot still old.
        await S.CommitAsync(Tx(new SnapContext(1, [1])).Write("o", 0, [5]));
        Assert.Equal([5], S.Read(Pg, "o", 0, 100));
        Assert.Equal(a, S.Read(Pg, "o", 0, a.Length, snap: 1));

        // Snapshot 1 removed: trim drops the old versions.
        int removed = await S.TrimSnapsAsync(Pg, []);
        Assert.Equal(3, removed); // 2 chunks + 1 metadata version
        Assert.Equal((1, 0), S.CountChunkVersions(Pg, "o"));
        Assert.Equal([5], S.Read(Pg, "o", 0, 100));

        // Whiteout with nothing left to see it disappears.
        await S.CommitAsync(Tx().Write("w", 0, a));
        await S.CommitAsync(Tx(new SnapContext(2, [2])).Remove("w"));
        Assert.Equal(a, S.Read(Pg, "w", 0, a.Length, snap: 2));
        await S.TrimSnapsAsync(Pg, []);
        Assert.Equal((0, 0), S.CountChunkVersions(Pg, "w"));
        Assert.Null(S.Stat(Pg, "w", 2));
    }

    [Fact]
    public async Task Trim_removes_only_versions_no_remaining_snapshot_sees()
    {
        // Versions of chunk 0: v0 (tag 0) seen by snap 1; v1 (tag 1) seen by 2; v2 (tag 2) seen by 3; head (tag 3).
        await S.CommitAsync(Tx().Write("o", 0, [0]));
        await S.CommitAsync(Tx(new SnapContext(1, [1])).Write("o", 0, [1]));
        await S.CommitAsync(Tx(new SnapContext(2, [2, 1])).Write("o", 0, [2]));
        await S.CommitAsync(Tx(new SnapContext(3, [3, 2, 1])).Write("o", 0, [3]));
        Assert.Equal((1, 3), S.CountChunkVersions(Pg, "o"));

        Assert.Equal(2, await S.TrimSnapsAsync(Pg, [1, 3])); // drops chunk + meta version seen only by snap 2
        Assert.Equal((1, 2), S.CountChunkVersions(Pg, "o"));
        Assert.Equal([0], S.Read(Pg, "o", 0, 1, snap: 1));
        Assert.Equal([2], S.Read(Pg, "o", 0, 1, snap: 3));
        Assert.Equal([3], S.Read(Pg, "o", 0, 1));

        Assert.Equal(0, await S.TrimSnapsAsync(Pg, [1, 3]));
        await S.TrimSnapsAsync(Pg, [3]);
        Assert.Equal([2], S.Read(Pg, "o", 0, 1, snap: 3));
        Assert.Equal((1, 1), S.CountChunkVersions(Pg, "o"));
    }

    [Fact]
    public async Task Pg_log_info_and_reopen()
    {
        var a = Bytes.Pattern(Cs + 3, 10);
        for (int i = 1; i <= 5; i++)
        {
            var v = new PgVersion(5, (ulong)i);
            var tx = new StoreTransaction(Pg, v).Write("o", 0, a).OmapSet("o", "n", [(byte)i])
                .AppendLog(new PgLogEntry(v, PgLogOp.Modify, "o", $"client.4:{i}", new PgVersion(5, (ulong)i - 1)))
                .SetPgInfo([(byte)i]);
            await S.CommitAsync(tx);
        }
        await S.CommitAsync(new StoreTransaction(Pg, new PgVersion(5, 6), new SnapContext(1, [1])).Write("o", 0, [9]).TrimLog(new PgVersion(5, 3)));
        _t.Reopen();

        var log = S.ReadLog(Pg);
        Assert.Equal([3UL, 4, 5], log.Select(e => e.Version.Seq));
        Assert.Equal(new PgLogEntry(new PgVersion(5, 4), PgLogOp.Modify, "o", "client.4:4", new PgVersion(5, 3)), log[1]);
        Assert.Equal([5UL], S.ReadLog(Pg, new PgVersion(5, 4)).Select(e => e.Version.Seq));
        Assert.NotNull(S.FindLogEntry(Pg, "client.4:5"));
        Assert.Null(S.FindLogEntry(Pg, "client.4:1"));
        Assert.Equal([5], S.GetPgInfo(Pg));
        Assert.Equal(a, S.Read(Pg, "o", 0, a.Length, snap: 1));
        Assert.Equal(9, S.Read(Pg, "o", 0, 1)[0]);
        Assert.Equal([5], S.OmapGet(Pg, "o", ["n"])["n"]);
        Assert.Equal(Cs, S.ChunkSize);
        Assert.Equal([Pg], S.ListPgs());
    }

    [Fact]
    public void Chunk_size_is_kept_by_an_existing_store()
    {
        _t.Store.Dispose();
        using (var s = ObjectStore.Open(_t.DbPath, new ObjectStoreOptions { ChunkSize = 65536 }))
            Assert.Equal(Cs, s.ChunkSize);
        _t.Reopen();
    }

    [Fact]
    public async Task Group_commit_many_concurrent_writers_all_durable_after_reopen()
    {
        const int writers = 16, each = 25;
        long seq = 0;
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (int i = 0; i < each; i++)
            {
                var v = new PgVersion(1, (ulong)Interlocked.Increment(ref seq));
                // Same object from all writers too: read-modify-write through pending commits.
                await S.CommitAsync(new StoreTransaction(Pg, v)
                    .Write($"w{w}.{i}", 0, Bytes.Pattern(4096, w * 1000 + i))
                    .Write("shared", w * 64 + i, [(byte)(w + 1)]));
            }
        })).ToArray();
        await Task.WhenAll(tasks);
        Assert.True(S.Queue.Groups < S.Queue.Transactions, $"{S.Queue.Groups} groups for {S.Queue.Transactions} transactions");
        _t.Reopen();
        for (int w = 0; w < writers; w++)
            for (int i = 0; i < each; i++)
                Assert.Equal(Bytes.Pattern(4096, w * 1000 + i), S.Read(Pg, $"w{w}.{i}", 0, 4096));
        var shared = S.Read(Pg, "shared", 0, writers * 64);
        for (int w = 0; w < writers; w++)
            for (int i = 0; i < each; i++)
                Assert.Equal(w + 1, shared[w * 64 + i]);
    }

    [Fact]
    public async Task Batch_data_and_log_entry_appear_together()
    {
        // Readers racing the commits never see an object version without its log entry, or vice versa.
        using var cts = new CancellationTokenSource();
        var violations = 0;
        var reader = Task.Run(() =>
        {
            while (!cts.IsCancellationRequested)
            {
                var log = S.ReadLog(Pg).Select(e => e.Object).ToHashSet();
                var objs = S.ListObjects(Pg, null, 10_000).Names.ToHashSet();
                // objects listed after the log may include a newer commit, so check log ⊆ objects
                if (!log.IsSubsetOf(objs)) Interlocked.Increment(ref violations);
            }
        });
        var writes = Enumerable.Range(1, 200).Select(i =>
        {
            var v = new PgVersion(1, (ulong)i);
            return S.CommitAsync(new StoreTransaction(Pg, v).Write($"o{i}", 0, [1])
                .AppendLog(new PgLogEntry(v, PgLogOp.Modify, $"o{i}", $"c:{i}", PgVersion.Zero)));
        }).ToArray();
        await Task.WhenAll(writes);
        cts.Cancel();
        await reader;
        Assert.Equal(0, violations);
        Assert.Equal(200, S.ReadLog(Pg).Count);
        Assert.Equal(200, S.ListObjects(Pg, null, 1000).Names.Count);
    }
}
