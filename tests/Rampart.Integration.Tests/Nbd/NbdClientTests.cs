using System.Text.Json;
using Rampart.Testing;

namespace Rampart.Integration.Tests.Nbd;

/// <summary>
/// The NBD server against the real clients from apt (libnbd's nbdinfo and nbdcopy, qemu-img/qemu-io, fio's nbd
/// engine), over TCP on 127.0.0.1 and over a Unix socket. Devices are in memory: the protocol is what is under test.
/// </summary>
public sealed class NbdClientTests : IAsyncLifetime
{
    private const long DiskSize = 64 << 20;
    private const long SnapSize = 8 << 20;

    private readonly NbdLab _lab = new();
    private readonly MemoryBlockDevice _disk;
    private readonly MemoryBlockDevice _snap;

    public NbdClientTests()
    {
        _disk = _lab.Catalog.Add("rbd/disk", new MemoryBlockDevice(DiskSize));
        _snap = _lab.Catalog.Add("rbd/disk@snap", new MemoryBlockDevice(SnapSize, readOnly: true));
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _lab.DisposeAsync();

    private string RandomFile(string name, int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        string path = Path.Combine(_lab.Dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public async Task Nbdinfo_ListsExportsAndSizes_OverTcpAndUnix()
    {
        foreach (var uri in new[] { $"nbd://127.0.0.1:{_lab.Port}", $"nbd+unix:///?socket={_lab.SocketPath}" })
        {
            var listing = await _lab.OkAsync("nbdinfo", "--list", uri);
            Assert.Contains("export=\"rbd/disk\":", listing, StringComparison.Ordinal);
            Assert.Contains("export=\"rbd/disk@snap\":", listing, StringComparison.Ordinal);
            Assert.Contains($"export-size: {DiskSize}", listing, StringComparison.Ordinal);
            Assert.Contains($"export-size: {SnapSize}", listing, StringComparison.Ordinal);
        }

        using var json = JsonDocument.Parse(await _lab.OkAsync("nbdinfo", "--json", _lab.Uri("rbd/disk@snap")));
        var export = json.RootElement.GetProperty("exports")[0];
        Assert.Equal(SnapSize, export.GetProperty("export-size").GetInt64());
        Assert.True(export.GetProperty("is_read_only").GetBoolean());
        Assert.True(export.GetProperty("can_multi_conn").GetBoolean());
        Assert.True(export.GetProperty("can_flush").GetBoolean());
        Assert.True(export.GetProperty("can_fua").GetBoolean());
        Assert.Equal(1, export.GetProperty("block_size_minimum").GetInt32());
        Assert.Equal(4096, export.GetProperty("block_size_preferred").GetInt32());
        Assert.Equal(32 << 20, export.GetProperty("block_size_maximum").GetInt32());
    }

    [Fact]
    public async Task Nbdinfo_UnknownExport_Fails()
    {
        var (exit, _, error) = await _lab.RunAsync("nbdinfo", _lab.Uri("rbd/missing"));
        Assert.NotEqual(0, exit);
        // libnbd reports NBD_REP_ERR_UNKNOWN as ENOENT.
        Assert.True(error.Contains("No such file or directory for export: rbd/missing", StringComparison.Ordinal), error);
    }

    [Fact]
    public async Task QemuImg_ConvertsAQcow2IntoTheExport_AndComparesEqual()
    {
        string qcow2 = Path.Combine(_lab.Dir, "source.qcow2");
        await _lab.OkAsync("qemu-img", "create", "-q", "-f", "qcow2", qcow2, DiskSize.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await _lab.OkAsync("qemu-io", "-f", "qcow2",
            "-c", "write -P 0xab 0 4M",
            "-c", "write -P 0xcd 10M 1M",
            "-c", "write -P 0x5a 33554431 3",      // unaligned, across a cluster boundary
            "-c", "write -P 0xee 60M 4M",
            qcow2);
        // Garbage the convert must overwrite (zeroes in the source become writes or WRITE_ZEROES on the export).
        _disk.Fill(Enumerable.Repeat((byte)0x77, 1 << 20).ToArray(), 20 << 20);

        await _lab.OkAsync("qemu-img", "convert", "-n", "-f", "qcow2", "-O", "raw", qcow2, _lab.Uri("rbd/disk"));
        await _lab.OkAsync("qemu-img", "compare", "-f", "qcow2", "-F", "raw", qcow2, _lab.Uri("rbd/disk"));

        var contents = _disk.Snapshot();
        Assert.All(contents[..(4 << 20)], b => Assert.Equal(0xab, b));
        Assert.All(contents[(10 << 20)..(11 << 20)], b => Assert.Equal(0xcd, b));
        Assert.All(contents[(20 << 20)..(21 << 20)], b => Assert.Equal(0, b));
        Assert.Equal(new byte[] { 0x5a, 0x5a, 0x5a }, contents[33554431..33554434]);

        // And back out through qemu's NBD client as a read source.
        string back = Path.Combine(_lab.Dir, "back.raw");
        await _lab.OkAsync("qemu-img", "convert", "-f", "raw", "-O", "raw", _lab.Uri("rbd/disk"), back);
        Assert.Equal(contents, await File.ReadAllBytesAsync(back));
        Assert.Equal(0, _lab.Server.Counters.Errors);
    }

    [Fact]
    public async Task Nbdcopy_RoundTripsOverUnixAndTcp()
    {
        string source = RandomFile("source.raw", (int)DiskSize, 1);
        await _lab.OkAsync("nbdcopy", "--flush", source, _lab.UnixUri("rbd/disk"));
        Assert.True(_disk.Flushes > 0);
        Assert.Equal(await File.ReadAllBytesAsync(source), _disk.Snapshot());

        string copy = Path.Combine(_lab.Dir, "copy.raw");
        await _lab.OkAsync("nbdcopy", "--connections=4", "--requests=16", _lab.Uri("rbd/disk"), copy);
        Assert.Equal(await File.ReadAllBytesAsync(source), await File.ReadAllBytesAsync(copy));
        Assert.Equal(0, _lab.Server.Counters.Errors);
    }

    [Fact]
    public async Task Fio_NbdEngine_WritesAndVerifiesCrc32c()
    {
        var output = await _lab.OkAsync("fio", "--name=nbd-verify", "--ioengine=nbd", $"--uri={_lab.Uri("rbd/disk")}",
            "--rw=randwrite", "--bs=4k", "--iodepth=16", "--size=32M", "--verify=crc32c", "--do_verify=1",
            "--verify_fatal=1", "--fsync_on_close=1", "--output-format=json");
        using var json = JsonDocument.Parse(output[output.IndexOf('{', StringComparison.Ordinal)..]);
        var job = json.RootElement.GetProperty("jobs")[0];
        Assert.Equal(0, job.GetProperty("error").GetInt32());
        Assert.Equal(32L << 20, job.GetProperty("write").GetProperty("io_bytes").GetInt64());
        Assert.Equal(32L << 20, job.GetProperty("read").GetProperty("io_bytes").GetInt64());
        Assert.Equal(0, _lab.Server.Counters.Errors);
    }

    [Fact]
    public async Task ReadOnlyExport_RefusesWrites_ButServesReads()
    {
        string source = RandomFile("source.raw", (int)SnapSize, 2);
        _snap.Fill(await File.ReadAllBytesAsync(source));

        // The clients see NBD_FLAG_READ_ONLY and refuse before sending a write (the server's EPERM is unit-tested).
        var (exit, _, error) = await _lab.RunAsync("nbdcopy", source, _lab.Uri("rbd/disk@snap"));
        Assert.NotEqual(0, exit);
        Assert.True(error.Contains("the destination is read-only", StringComparison.Ordinal), error);

        var (ioExit, ioOut, ioErr) = await _lab.RunAsync("qemu-io", "-f", "raw", "-c", "write -P 0x11 0 4k", _lab.UnixUri("rbd/disk@snap"));
        Assert.NotEqual(0, ioExit);
        Assert.True(ioErr.Contains("Permission denied", StringComparison.Ordinal), ioOut + ioErr);

        string copy = Path.Combine(_lab.Dir, "copy.raw");
        await _lab.OkAsync("nbdcopy", _lab.UnixUri("rbd/disk@snap"), copy);
        Assert.Equal(await File.ReadAllBytesAsync(source), await File.ReadAllBytesAsync(copy));
        Assert.Equal(0, _snap.Writes + _snap.Zeroes + _snap.Trims);
    }

    [Fact]
    public async Task ManyClientsAtOnce_AllSucceed()
    {
        string source = RandomFile("source.raw", 4 << 20, 3);
        var exports = Enumerable.Range(0, 6).Select(i => (Name: $"rbd/vol{i}", Device: _lab.Catalog.Add($"rbd/vol{i}", new MemoryBlockDevice(4 << 20)))).ToList();
        await Task.WhenAll(exports.Select(e => _lab.OkAsync("nbdcopy", source, e.Name.EndsWith('0') ? _lab.UnixUri(e.Name) : _lab.Uri(e.Name))));
        var expected = await File.ReadAllBytesAsync(source);
        Assert.All(exports, e => Assert.Equal(expected, e.Device.Snapshot()));
        await Wait.UntilAsync(() => Task.FromResult(_lab.Catalog.OpenHandles == 0), TimeSpan.FromSeconds(10), "every connection closed");
    }
}
