using System.Globalization;
using Rampart.Rbd;
using Rampart.Rbd.Images;
using Rampart.Testing;

namespace Rampart.Integration.Tests.Block;

/// <summary>`rampart nbd serve` in front of a real cluster (3 monitors, 3 OSDs), used by qemu-img, nbdinfo, nbdcopy and fio.</summary>
public sealed class NbdServeTests : IAsyncLifetime
{
    private readonly NbdServeLab _nbd = new();
    private string Socket => _nbd.Socket;

    private string Uri(string export) => _nbd.Uri(export);

    public Task InitializeAsync() => _nbd.StartAsync();

    public async Task DisposeAsync() => await _nbd.DisposeAsync();

    [Fact]
    public async Task Qemu_img_nbdinfo_and_nbdcopy_use_images_and_read_only_snapshots()
    {
        await _nbd.Lab.OkAsync("rbd", "create", "rbd/disk", "--size", "64M");
        await _nbd.Tools.OkAsync("qemu-img", "create", "-f", "qcow2", "source.qcow2", "64M");
        await _nbd.Tools.OkAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 3M", "-c", "write -P 0x33 40M 64k", "-c", "write -P 0x7e 63M 1M", "source.qcow2");

        var list = await _nbd.Tools.OkAsync("nbdinfo", "--list", Uri(""));
        Assert.Contains("export=\"rbd/disk\"", list, StringComparison.Ordinal);
        Assert.Contains("67108864", list, StringComparison.Ordinal);
        Assert.Contains("67108864", await _nbd.Tools.OkAsync("nbdinfo", "--size", $"nbd+unix:///rbd/disk?socket={Socket}"), StringComparison.Ordinal);

        await _nbd.Tools.OkAsync("qemu-img", "convert", "-n", "-f", "qcow2", "-O", "raw", "source.qcow2", Uri("rbd/disk"));
        Assert.Contains("identical", await _nbd.Tools.OkAsync("qemu-img", "compare", "-f", "qcow2", "-F", "raw", "source.qcow2", Uri("rbd/disk")), StringComparison.Ordinal);
        await _nbd.Tools.OkAsync("qemu-img", "convert", "-f", "qcow2", "-O", "raw", "source.qcow2", "source.raw");
        await _nbd.Tools.OkAsync("nbdcopy", Uri("rbd/disk"), "copy.raw");
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(_nbd.Lab.Mons.Dir, "source.raw")), await File.ReadAllBytesAsync(Path.Combine(_nbd.Lab.Mons.Dir, "copy.raw")));

        // Thin: only what qemu-img wrote takes space (unwritten ranges of the qcow2 were skipped or zeroed, not stored).
        await using (var client = await _nbd.Lab.ConnectAsync())
        await using (var image = await Image.OpenAsync(client, ImageSpec.Parse("disk")))
            Assert.InRange(await image.UsedBytesAsync(), 4L << 20, 16L << 20);

        // Block status (structured replies, "base:allocation"): the written ranges are data, most of the rest holes.
        var map = (await _nbd.Tools.OkAsync("nbdinfo", "--map", Uri("rbd/disk")))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(f => (Offset: long.Parse(f[0], CultureInfo.InvariantCulture), Length: long.Parse(f[1], CultureInfo.InvariantCulture), Type: int.Parse(f[2], CultureInfo.InvariantCulture)))
            .ToList();
        Assert.Equal(64L << 20, map.Sum(e => e.Length));
        var data = map.Where(e => e.Type == 0).ToList();
        foreach (var (offset, length) in new[] { (1L << 20, 3L << 20), (40L << 20, 64L << 10), (63L << 20, 1L << 20) })
            Assert.True(data.Any(e => e.Offset <= offset && offset + length <= e.Offset + e.Length), $"{offset}+{length} is data in {string.Join(", ", map)}");
        Assert.InRange(data.Sum(e => e.Length), 4L << 20, 16L << 20);
        Assert.All(map.Where(e => e.Type != 0), e => Assert.Equal(3, e.Type)); // holes read as zeros

        await _nbd.Lab.OkAsync("rbd", "snap", "create", "disk@golden");
        await _nbd.Tools.OkAsync("qemu-io", "-f", "raw", "-c", "write -P 0x11 0 1M", Uri("rbd/disk"));
        var (exit, _, error) = await _nbd.Tools.RunAsync("qemu-io", "-f", "raw", "-c", "write -P 0x22 0 4k", Uri("rbd/disk@golden"));
        Assert.True(exit != 0 || error.Contains("ermission", StringComparison.Ordinal) || error.Contains("read-only", StringComparison.Ordinal), error);
        await _nbd.Tools.OkAsync("nbdcopy", Uri("rbd/disk@golden"), "golden.raw");
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(_nbd.Lab.Mons.Dir, "source.raw")), await File.ReadAllBytesAsync(Path.Combine(_nbd.Lab.Mons.Dir, "golden.raw")));

        var missing = await _nbd.Tools.RunAsync("nbdinfo", Uri("rbd/nosuch"));
        Assert.NotEqual(0, missing.Exit);
    }

    [Fact]
    public async Task Fio_verifies_every_write_while_an_osd_is_killed_and_restarted()
    {
        await _nbd.Lab.OkAsync("rbd", "create", "rbd/vm", "--size", "32M");
        await using var client = await _nbd.Lab.ConnectAsync();
        var fio = _nbd.Tools.RunAsync(TimeSpan.FromMinutes(5), "fio", "--name=verify", "--ioengine=nbd", $"--uri={Uri("rbd/vm")}", "--rw=randwrite", "--bs=4k",
            "--iodepth=16", "--size=24M", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--randrepeat=0");

        await using var image = await Image.OpenAsync(client, ImageSpec.Parse("vm"));
        await Wait.UntilAsync(async () => await image.UsedBytesAsync() > 1 << 20, TimeSpan.FromSeconds(60), "fio writing");
        int victim = client.Map.Primary(client.Map.Locate(client.Map.FindPool("rbd")!, $"rbd_data.{image.Header.Id}.0000000000000000"))!.Value;
        _nbd.Lab.CrashOsd(victim);
        await Wait.UntilAsync(async () =>
        {
            await using var c = await _nbd.Lab.ConnectAsync();
            return c.Map.FindOsd(victim) is { Up: false };
        }, TimeSpan.FromSeconds(30), $"osd.{victim} marked down");
        _nbd.Lab.StartOsd(victim);

        var (exit, output, error) = await fio;
        Assert.True(exit == 0, $"fio exited {exit}:\n{output}\n{error}\n{_nbd.Lab.Mons.Outputs()}");
        Assert.Contains("err= 0", output, StringComparison.Ordinal);
        Assert.DoesNotContain("verify failed", output + error, StringComparison.OrdinalIgnoreCase);
        await _nbd.Lab.WaitForCleanAsync();
        Assert.Contains(victim.ToString(CultureInfo.InvariantCulture), await _nbd.Lab.OkAsync("osd", "tree"), StringComparison.Ordinal);
    }
}
