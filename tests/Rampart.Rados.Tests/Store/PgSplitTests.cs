using Rampart.Rados.Osd.Store;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Tests.Store;

public sealed class PgSplitTests : IDisposable
{
    private const long Pool = 7;
    private readonly TempStore _t = new();
    private ObjectStore S => _t.Store;

    public void Dispose() => _t.Dispose();

    private static PgId Home(string name, uint pgNum) => ObjectLocator.Locate(Pool, name, pgNum);

    [Theory]
    [InlineData(1u, 2u)]
    [InlineData(4u, 16u)]
    [InlineData(12u, 20u)]
    [InlineData(64u, 100u)]
    public void An_object_only_ever_moves_to_a_child_of_its_PG(uint from, uint to)
    {
        var rng = new Random((int)(from * 1000 + to));
        for (int i = 0; i < 20_000; i++)
        {
            string name = $"obj-{rng.Next()}";
            var parent = Home(name, from);
            var now = Home(name, to);
            if (now != parent)
                Assert.Contains(now, ObjectLocator.Children(parent, from, to));
        }
        // Every new PG has exactly one parent.
        var all = Enumerable.Range(0, (int)from).SelectMany(s => ObjectLocator.Children(new PgId(Pool, (uint)s), from, to)).ToList();
        Assert.Equal(Enumerable.Range((int)from, (int)(to - from)).Select(s => new PgId(Pool, (uint)s)), all.OrderBy(p => p.Seed));
    }

    [Fact]
    public async Task Split_moves_each_object_whole_to_its_new_PG_and_children_inherit_info_and_log()
    {
        await S.EnsureLayoutAsync(Pool, 4, 0);
        var names = Enumerable.Range(0, 300).Select(i => $"rbd_data.{i:x16}").ToList();
        var data = names.ToDictionary(n => n, n => Bytes.Pattern(9000, n.GetHashCode()));
        ulong seq = 0;
        foreach (var name in names)
        {
            var pg = Home(name, 4);
            var snaps = new SnapContext(1, [1]);
            await S.CommitAsync(new StoreTransaction(pg, new PgVersion(3, ++seq))
                .WriteFull(name, data[name])
                .OmapSet(name, [KeyValuePair.Create("k", new byte[] { 1, 2 })])
                .AppendLog(new PgLogEntry(new PgVersion(3, seq), PgLogOp.Modify, name, $"client.1:{seq}", PgVersion.Zero))
                .SetPgInfo([(byte)pg.Seed]));
            // A write after snapshot 1 keeps the old first chunk for it.
            await S.CommitAsync(new StoreTransaction(pg, new PgVersion(3, ++seq), snaps).Write(name, 0, [0xEE]));
        }

        long moved = await S.EnsureLayoutAsync(Pool, 16, 42);

        Assert.Equal(names.Count(n => Home(n, 16) != Home(n, 4)), moved);
        Assert.True(moved > 150, $"about 3/4 of the objects change PG, {moved} did");
        Assert.Equal(new PoolLayout(16, 42), S.Layout(Pool));
        foreach (var name in names)
        {
            var pg = Home(name, 16);
            var expected = (byte[])data[name].Clone();
            expected[0] = 0xEE;
            Assert.Equal(expected, S.Read(pg, name, 0, 9000));
            Assert.Equal(data[name], S.Read(pg, name, 0, 9000, snap: 1));
            Assert.Equal(new byte[] { 1, 2 }, S.OmapGet(pg, name, ["k"])["k"]);
            if (pg != Home(name, 4))
                Assert.Null(S.Stat(Home(name, 4), name));
        }
        for (uint seed = 0; seed < 16; seed++)
        {
            var pg = new PgId(Pool, seed);
            Assert.All(S.ListObjects(pg, max: 1000).Names, n => Assert.Equal(pg, Home(n, 16)));
            var parent = ObjectLocator.Parent(pg, 4);
            Assert.Equal(S.GetPgInfo(parent), S.GetPgInfo(pg));
            Assert.Equal(S.ReadLog(parent), S.ReadLog(pg));
        }
        Assert.Equal(names.Count, Enumerable.Range(0, 16).Sum(s => S.ListObjects(new PgId(Pool, (uint)s), max: 1000).Names.Count));
        Assert.Empty(S.DeepScrub(Home(names[0], 16)).Errors);

        // Recorded: a reopened store knows the layout, and splitting to the same pg_num again moves nothing.
        _t.Reopen();
        Assert.Equal(new PoolLayout(16, 42), S.Layout(Pool));
        Assert.Equal(0, await S.EnsureLayoutAsync(Pool, 16, 42));
    }

    [Fact]
    public async Task A_write_into_the_PG_an_object_left_is_refused_but_a_removal_is_not()
    {
        string name = Enumerable.Range(0, 100).Select(i => $"o{i}").First(n => Home(n, 8) != Home(n, 2));
        var parent = Home(name, 2);
        // No layout recorded for the pool yet: no check (the OSD records it when it first sees the pool).
        await S.CommitAsync(new StoreTransaction(new PgId(Pool, 0), new PgVersion(1, 1)).Write(name + "-anywhere", 0, [1]));
        Assert.Equal(0, await S.EnsureLayoutAsync(Pool, 2, 0)); // first sight: recorded as it is
        await S.CommitAsync(new StoreTransaction(parent, new PgVersion(1, 1)).Write(name, 0, [1]));
        Assert.Equal(Home(name + "-anywhere", 8).Seed == 0 ? 1 : 2, await S.EnsureLayoutAsync(Pool, 8, 5));

        var late = new StoreTransaction(parent, new PgVersion(1, 2)).Write(name, 0, [2]);
        var e = await Assert.ThrowsAsync<MisplacedObjectException>(() => S.CommitAsync(late));
        Assert.Equal($"Error EAGAIN: object '{name}' belongs to pg {Home(name, 8)}, not {parent} (pool pg_num 8)", e.Message);
        Assert.Equal([1], S.Read(Home(name, 8), name, 0, 1));
        Assert.Null(S.Stat(parent, name));

        await S.CommitAsync(new StoreTransaction(parent, PgVersion.Zero).ReplaceObject(name, null, []));
        await S.CommitAsync(new StoreTransaction(Home(name, 8), new PgVersion(1, 3)).Write(name, 0, [3]));
        Assert.Equal([3], S.Read(Home(name, 8), name, 0, 1));
    }
}
