using System.IO.Hashing;
using Rampart.Rados.Client;
using Rampart.Rbd;
using Rampart.Rbd.Images;
using Rampart.Testing;

namespace Rampart.Integration.Tests.Block;

/// <summary>One cluster (3 monitors, 3 OSDs as processes, pool rbd of size 3) shared by the image tests.</summary>
public sealed class BlockCluster : IAsyncLifetime
{
    public StorageLab Lab { get; } = new(osds: 3);
    public RadosClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        await Lab.StartAsync("rbd", pgNum: 32);
        Client = await Lab.ConnectAsync();
    }

    public async Task DisposeAsync()
    {
        if (Client is not null) await Client.DisposeAsync();
        Lab.Dispose();
    }
}

[CollectionDefinition("block cluster")]
public sealed class BlockClusterCollection : ICollectionFixture<BlockCluster>;

/// <summary>Images, snapshots, clones and diffs on a real cluster, through the library and the `rampart rbd` CLI.</summary>
[Collection("block cluster")]
public sealed class ImageTests(BlockCluster cluster)
{
    private const int Order = 16; // 64 KiB objects: several objects even in a small image
    private readonly RadosClient _client = cluster.Client;
    private readonly StorageLab _lab = cluster.Lab;
    private readonly RbdPool _pool = new(cluster.Client, "rbd");

    private static byte[] Pattern(int seed, int length)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private async Task<Image> CreateAsync(string name, long size)
    {
        await _pool.CreateAsync(name, size, Order);
        return await Image.OpenAsync(_client, new ImageSpec("rbd", name));
    }

    /// <summary>A 512 KiB image filled with Pattern(<paramref name="seed"/>) and its snapshot "base"; returns the data.</summary>
    private async Task<byte[]> CreateWithSnapshotAsync(string name, int seed)
    {
        var data = Pattern(seed, 512 * 1024);
        await using var image = await CreateAsync(name, data.Length);
        await image.WriteAsync(0, data, false, default);
        await image.CreateSnapAsync("base");
        return data;
    }

    private async Task<byte[]> ReadAllAsync(string spec)
    {
        await using var image = await Image.OpenAsync(_client, ImageSpec.Parse(spec));
        var bytes = new byte[image.Size];
        await image.ReadAsync(0, bytes, default);
        return bytes;
    }

    private async Task<string> FailAsync(params string[] args)
    {
        var (exit, stdout, stderr) = await _lab.RunAsync(args);
        Assert.True(exit != 0, $"rampart {string.Join(' ', args)} should have failed: {stdout}");
        Assert.Single(stderr.Trim().Split('\n'));
        return stderr;
    }

    [Fact]
    public async Task An_image_is_thin_and_reads_back_what_was_written()
    {
        await using var image = await CreateAsync("thin", 1 << 20);
        Assert.All(await ReadAllAsync("thin"), b => Assert.Equal(0, b));
        var data = Pattern(1, 100_000);
        await image.WriteAsync(30_000, data, false, default);
        var all = await ReadAllAsync("thin");
        Assert.Equal(data, all[30_000..130_000]);
        Assert.All(all[130_000..], b => Assert.Equal(0, b));
        Assert.InRange(await image.UsedBytesAsync(), 100_000, 3 << Order); // only the objects written take space

        await image.TrimAsync(0, 1 << 20, default);
        Assert.All(await ReadAllAsync("thin"), b => Assert.Equal(0, b));
        Assert.Equal(0, await image.UsedBytesAsync());
        await Assert.ThrowsAsync<Rbd.Nbd.BlockDeviceException>(async () => await image.WriteAsync((1 << 20) - 10, new byte[20], false, default));
    }

    [Fact]
    public async Task Snapshots_keep_what_they_saw_and_rollback_restores_it()
    {
        const int size = 1 << 20;
        await using var image = await CreateAsync("snappy", size);
        var v1 = Pattern(10, size);
        await image.WriteAsync(0, v1, false, default);
        await image.CreateSnapAsync("one");

        var v2 = (byte[])v1.Clone();
        Pattern(11, 4096).CopyTo(v2, 200_000);          // a small write inside one object
        Pattern(12, 150_000).CopyTo(v2, 500_000);       // across objects
        await image.WriteAsync(200_000, v2.AsMemory(200_000, 4096), false, default);
        await image.WriteAsync(500_000, v2.AsMemory(500_000, 150_000), false, default);
        await image.CreateSnapAsync("two");

        await image.TrimAsync(0, 300_000, default);
        await image.ResizeAsync(size / 2, allowShrink: true);
        var head = await ReadAllAsync("snappy");
        Assert.Equal(size / 2, head.Length);
        Assert.All(head[..300_000], b => Assert.Equal(0, b));

        Assert.Equal(v1, await ReadAllAsync("snappy@one"));
        Assert.Equal(v2, await ReadAllAsync("snappy@two"));

        await image.RollbackAsync("one");
        Assert.Equal(v1, await ReadAllAsync("snappy"));
        Assert.Equal(v2, await ReadAllAsync("snappy@two")); // rolling back changes head only

        await image.RemoveSnapAsync("two");
        Assert.Equal(v1, await ReadAllAsync("snappy@one"));
        var listed = await _lab.OkAsync("rbd", "snap", "ls", "snappy");
        Assert.Contains("one", listed, StringComparison.Ordinal);
        Assert.DoesNotContain("two", listed, StringComparison.Ordinal);
        Assert.Contains("Error ENOENT", await FailAsync("rbd", "export", "snappy@two", "-"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_snapshot_taken_under_a_running_writer_is_one_point_in_its_history_and_stays_so()
    {
        const int blocks = 64, block = 4096;
        await using var writer = await CreateAsync("busy", blocks * block);
        await using var admin = await Image.OpenAsync(_client, ImageSpec.Parse("busy"));
        using var stop = new CancellationTokenSource();
        int written = 0;
        // Write j puts the number j into block j mod 64, one write after the other.
        var writing = Task.Run(async () =>
        {
            var buffer = new byte[block];
            for (int j = 1; !stop.IsCancellationRequested || j <= 3 * blocks; j++)
            {
                BitConverter.TryWriteBytes(buffer, j);
                await writer.WriteAsync((long)(j % blocks) * block, buffer, false, default);
                written = j;
            }
        });
        await Wait.UntilAsync(() => Task.FromResult(written > blocks), TimeSpan.FromSeconds(30), "the writer got going");
        int before = written;
        await admin.CreateSnapAsync("mid"); // the writer's handle still has the context without it
        int atSnap = written;
        await Wait.UntilAsync(() => Task.FromResult(written > atSnap + 2 * blocks), TimeSpan.FromSeconds(30), "the writer went on past the snapshot");
        stop.Cancel();
        await writing;

        var first = await ReadAllAsync("busy@mid");
        int last = Enumerable.Range(0, blocks).Max(b => BitConverter.ToInt32(first, b * block));
        for (int b = 0; b < blocks; b++)
        {
            int expected = last - ((last - b) % blocks + blocks) % blocks; // the newest write j <= last with j mod 64 == b
            Assert.Equal(expected, BitConverter.ToInt32(first, b * block));
        }
        Assert.InRange(last, before, written); // every write acknowledged before the snapshot began is in it
        Assert.Equal(first, await ReadAllAsync("busy@mid"));
        Assert.NotEqual(first, await ReadAllAsync("busy"));
    }

    [Fact]
    public async Task Clones_read_their_parent_copy_up_on_write_and_survive_flatten()
    {
        var golden = await CreateWithSnapshotAsync("golden", 20);
        Assert.Contains("must be protected", await FailAsync("rbd", "clone", "golden@base", "rbd/vol"), StringComparison.Ordinal);
        await _lab.OkAsync("rbd", "snap", "protect", "golden@base");
        await _lab.OkAsync("rbd", "clone", "golden@base", "rbd/vol");
        Assert.Equal("rbd/vol\n", await _lab.OkAsync("rbd", "children", "golden@base"));
        Assert.Contains("parent: rbd/golden@base", await _lab.OkAsync("rbd", "info", "vol"), StringComparison.Ordinal);
        Assert.Equal(golden, await ReadAllAsync("vol"));

        var expected = (byte[])golden.Clone();
        await using (var vol = await Image.OpenAsync(_client, ImageSpec.Parse("vol")))
        {
            var patch = Pattern(21, 1000);
            patch.CopyTo(expected, 70_000);
            await vol.WriteAsync(70_000, patch, false, default); // copy-up of object 1, then the patch
            Assert.Equal(expected, await ReadAllAsync("vol"));
            Assert.Equal(golden, await ReadAllAsync("golden"));
            Assert.Equal(golden, await ReadAllAsync("golden@base"));
        }
        Assert.Contains("Error EBUSY", await FailAsync("rbd", "snap", "unprotect", "golden@base"), StringComparison.Ordinal);
        Assert.Contains("Error EBUSY", await FailAsync("rbd", "snap", "rm", "golden@base"), StringComparison.Ordinal);

        await _lab.OkAsync("rbd", "flatten", "vol");
        Assert.Equal("", await _lab.OkAsync("rbd", "children", "golden@base"));
        await _lab.OkAsync("rbd", "snap", "unprotect", "golden@base");
        await _lab.OkAsync("rbd", "snap", "rm", "golden@base");
        await _lab.OkAsync("rbd", "rm", "golden");
        Assert.Equal(expected, await ReadAllAsync("vol"));
        Assert.DoesNotContain("parent", await _lab.OkAsync("rbd", "info", "vol"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Flattening_a_clone_with_snapshots_keeps_what_each_snapshot_read_from_the_parent()
    {
        var golden = await CreateWithSnapshotAsync("gold2", 40);
        await _lab.OkAsync("rbd", "snap", "protect", "gold2@base");
        await _lab.OkAsync("rbd", "clone", "gold2@base", "rbd/vol2");

        var atS1 = (byte[])golden.Clone();
        byte[] head;
        await using (var vol = await Image.OpenAsync(_client, ImageSpec.Parse("vol2")))
        {
            var before = Pattern(41, 1000);
            before.CopyTo(atS1, 70_000);
            await vol.WriteAsync(70_000, before, false, default);
            await vol.CreateSnapAsync("s1"); // reads object 1 from the clone, every other object from the parent
            head = (byte[])atS1.Clone();
            var after = Pattern(42, 3000);
            after.CopyTo(head, 200_000);
            await vol.WriteAsync(200_000, after, false, default);
        }

        await _lab.OkAsync("rbd", "flatten", "vol2");
        Assert.Equal(head, await ReadAllAsync("vol2"));
        Assert.Equal(atS1, await ReadAllAsync("vol2@s1"));
        Assert.Contains("reads nothing from its parent", await FailAsync("rbd", "flatten", "vol2"), StringComparison.Ordinal);
        // The snapshot still reads the parent: the parent snapshot must stay.
        Assert.Equal("rbd/vol2\n", await _lab.OkAsync("rbd", "children", "gold2@base"));
        Assert.Contains("Error EBUSY", await FailAsync("rbd", "snap", "unprotect", "gold2@base"), StringComparison.Ordinal);

        await using (var vol = await Image.OpenAsync(_client, ImageSpec.Parse("vol2")))
        {
            var later = Pattern(43, 5000);
            later.CopyTo(head, 10);
            await vol.WriteAsync(10, later, false, default);
        }
        Assert.Equal(head, await ReadAllAsync("vol2"));
        Assert.Equal(atS1, await ReadAllAsync("vol2@s1"));

        await _lab.OkAsync("rbd", "snap", "rm", "vol2@s1"); // the last snapshot reading the parent: the clone detaches
        Assert.Equal("", await _lab.OkAsync("rbd", "children", "gold2@base"));
        await _lab.OkAsync("rbd", "snap", "unprotect", "gold2@base");
        await _lab.OkAsync("rbd", "snap", "rm", "gold2@base");
        await _lab.OkAsync("rbd", "rm", "gold2");
        Assert.Equal(head, await ReadAllAsync("vol2"));
        Assert.DoesNotContain("parent", await _lab.OkAsync("rbd", "info", "vol2"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_diff_chains_rebuild_the_image_exactly_and_refuse_the_wrong_base()
    {
        const int size = 1 << 20;
        string dir = _lab.Mons.Dir;
        await using var source = await CreateAsync("src", size);
        await source.WriteAsync(0, Pattern(30, size), false, default);
        await source.CreateSnapAsync("d1");
        await source.WriteAsync(123_456, Pattern(31, 70_000), false, default);
        await source.TrimAsync(800_000, 100_000, default);
        await source.ResizeAsync(size + 300_000, allowShrink: false);
        await source.WriteAsync(size + 100_000, Pattern(32, 5000), false, default);
        await source.CreateSnapAsync("d2");

        await _lab.OkAsync("rbd", "export-diff", "src@d1", $"{dir}/full.diff");
        await _lab.OkAsync("rbd", "export-diff", "--from-snap", "d1", "src@d2", $"{dir}/inc.diff");
        Assert.True(new FileInfo($"{dir}/inc.diff").Length < size / 2, "the incremental diff carries only the changes");

        await _lab.OkAsync("rbd", "create", "dst", "--size", "1M");
        Assert.Contains("start snapshot 'd1'", await FailAsync("rbd", "import-diff", $"{dir}/inc.diff", "dst"), StringComparison.Ordinal);
        await _lab.OkAsync("rbd", "import-diff", $"{dir}/full.diff", "dst");
        Assert.Contains("already exists", await FailAsync("rbd", "import-diff", $"{dir}/full.diff", "dst"), StringComparison.Ordinal);

        // A cut or foreign stream changes nothing.
        var whole = await File.ReadAllBytesAsync($"{dir}/inc.diff");
        await File.WriteAllBytesAsync($"{dir}/cut.diff", whole[..(whole.Length - 100)]);
        Assert.Contains("truncated", await FailAsync("rbd", "import-diff", $"{dir}/cut.diff", "dst"), StringComparison.Ordinal);
        await File.WriteAllTextAsync($"{dir}/foreign.diff", "QFI\u00fb this is not a diff");
        Assert.Contains("not an rbd diff", await FailAsync("rbd", "import-diff", $"{dir}/foreign.diff", "dst"), StringComparison.Ordinal);
        Assert.Equal(await ReadAllAsync("src@d1"), await ReadAllAsync("dst"));

        await _lab.OkAsync("rbd", "import-diff", $"{dir}/inc.diff", "dst");
        Assert.Equal(Crc64.Hash(await ReadAllAsync("src@d2")), Crc64.Hash(await ReadAllAsync("dst")));
        Assert.Equal(await ReadAllAsync("src@d1"), await ReadAllAsync("dst@d1"));
        Assert.Equal(await ReadAllAsync("src@d2"), await ReadAllAsync("dst@d2"));
    }

    [Fact]
    public async Task Image_commands_refuse_bad_requests_with_the_reason()
    {
        await _lab.OkAsync("rbd", "create", "rbd/guarded", "--size", "8M");
        Assert.Contains("already exists", await FailAsync("rbd", "create", "guarded", "--size", "1G"), StringComparison.Ordinal);
        Assert.Contains("not a size", await FailAsync("rbd", "create", "other", "--size", "lots"), StringComparison.Ordinal);
        Assert.Contains("--allow-shrink", await FailAsync("rbd", "resize", "guarded", "--size", "4M"), StringComparison.Ordinal);
        Assert.Contains("does not exist", await FailAsync("rbd", "info", "nosuch"), StringComparison.Ordinal);
        Assert.Contains("pool 'nopool' does not exist", await FailAsync("rbd", "ls", "nopool"), StringComparison.Ordinal);
        await _lab.OkAsync("rbd", "snap", "create", "guarded@keep");
        Assert.Contains("snap purge", await FailAsync("rbd", "rm", "guarded"), StringComparison.Ordinal);
        Assert.Contains("read-only", (await Assert.ThrowsAsync<Rbd.Nbd.BlockDeviceException>(async () =>
        {
            await using var snap = await Image.OpenAsync(_client, ImageSpec.Parse("guarded@keep"));
            await snap.WriteAsync(0, new byte[10], false, default);
        })).Message, StringComparison.Ordinal);
        var bench = await _lab.OkAsync("rbd", "bench", "guarded", "--io-type", "write", "--io-size", "4K", "--io-threads", "4", "--io-pattern", "rand", "--io-total", "256K");
        Assert.Contains("ops: 64 ", bench, StringComparison.Ordinal);
        Assert.Contains("NAME", await _lab.OkAsync("rbd", "du", "guarded"), StringComparison.Ordinal);
        Assert.Contains("guarded@keep", await _lab.OkAsync("rbd", "ls", "-l"), StringComparison.Ordinal);
        await _lab.OkAsync("rbd", "snap", "purge", "guarded");
        await _lab.OkAsync("rbd", "rename", "guarded", "renamed");
        await _lab.OkAsync("rbd", "rm", "renamed");
        Assert.DoesNotContain("renamed", await _lab.OkAsync("rbd", "ls"), StringComparison.Ordinal);
    }
}
