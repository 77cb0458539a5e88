using System.Text.Json;
using Rampart.Rbd;
using Rampart.Rbd.Images;
using Rampart.Testing;

namespace Rampart.Integration.Tests.Block;

/// <summary>
/// `rampart nbd serve` with rbd_cache = true in rampart.conf, in front of a real cluster: qemu-img writes through the
/// writeback cache and reads it back, the bytes are on the cluster once the client has gone, and
/// `rampart daemon SOCKET` reads the process's perf counters and settings from its admin socket.
/// </summary>
public sealed class CachedNbdServeTests : IAsyncLifetime
{
    private readonly NbdServeLab _nbd = new();

    /// <summary>admin_socket = DIR/$name.asok in [client]: expanded for client.admin.</summary>
    private string AdminSocket => Path.Combine(_nbd.Lab.Mons.Dir, "client.admin.asok");

    private string Uri(string export) => _nbd.Uri(export);

    // Writeback from the first write (Ceph's default waits for the client's first FLUSH, which qemu-img sends last).
    public Task InitializeAsync() =>
        _nbd.StartAsync($"[client]\nrbd_cache = true\nrbd_cache_writethrough_until_flush = false\nadmin_socket = {_nbd.Lab.Mons.Dir}/$name.asok\n");

    public async Task DisposeAsync() => await _nbd.DisposeAsync();

    private async Task<JsonDocument> DaemonAsync(params string[] command)
    {
        var (exit, output, error) = await _nbd.Tools.RunAsync(RampartCli.Path, ["daemon", AdminSocket, .. command]);
        Assert.True(exit == 0, $"rampart daemon {string.Join(' ', command)} exited {exit}: {error}");
        return JsonDocument.Parse(output);
    }

    [Fact]
    public async Task QemuImg_WritesThroughTheCache_AndPerfDumpAndConfigShowSayWhatHappened()
    {
        await _nbd.Lab.OkAsync("rbd", "create", "rbd/disk", "--size", "64M");
        await _nbd.Tools.OkAsync("qemu-img", "create", "-f", "qcow2", "source.qcow2", "64M");
        await _nbd.Tools.OkAsync("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 3M", "-c", "write -P 0x33 40M 64k", "-c", "write -P 0x7e 63M 1M", "source.qcow2");

        await _nbd.Tools.OkAsync("qemu-img", "convert", "-n", "-f", "qcow2", "-O", "raw", "source.qcow2", Uri("rbd/disk"));
        Assert.Contains("identical", await _nbd.Tools.OkAsync("qemu-img", "compare", "-f", "qcow2", "-F", "raw", "source.qcow2", Uri("rbd/disk")), StringComparison.Ordinal);

        // The clients have gone, so the cache was written out and closed: the bytes are on the cluster itself.
        await using (var client = await _nbd.Lab.ConnectAsync())
        await using (var image = await Image.OpenAsync(client, ImageSpec.Parse("disk")))
        {
            var bytes = new byte[3 << 20];
            await image.ReadAsync(1 << 20, bytes, CancellationToken.None);
            Assert.True(bytes.AsSpan().IndexOfAnyExcept((byte)0x5a) < 0, "1M..4M on the cluster is not what qemu-img wrote");
            await image.ReadAsync(63L << 20, bytes.AsMemory(0, 1 << 20), CancellationToken.None);
            Assert.True(bytes.AsSpan(0, 1 << 20).IndexOfAnyExcept((byte)0x7e) < 0, "63M..64M on the cluster is not what qemu-img wrote");
        }

        using var perf = await DaemonAsync("perf", "dump");
        var sections = perf.RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
        string imageSection = Assert.Single(sections.Keys, k => k.StartsWith("librbd-", StringComparison.Ordinal) && k.EndsWith("-rbd-disk", StringComparison.Ordinal));
        var librbd = sections[imageSection];
        Assert.True(librbd.GetProperty("wr").GetInt64() > 0, librbd.ToString());
        Assert.True(librbd.GetProperty("wr_bytes").GetInt64() >= 4L << 20, librbd.ToString());
        Assert.True(librbd.GetProperty("rd").GetInt64() > 0, librbd.ToString());
        Assert.True(librbd.GetProperty("wr_latency").GetProperty("avgcount").GetInt64() > 0, librbd.ToString());
        var cache = sections["objectcacher-" + imageSection];
        Assert.True(cache.GetProperty("data_written").GetInt64() >= 4L << 20, cache.ToString()); // buffered, not written through
        Assert.True(cache.GetProperty("data_flushed").GetInt64() >= 4L << 20, cache.ToString());
        Assert.Equal(0, cache.GetProperty("dirty_bytes").GetInt64());
        Assert.True(sections["nbd-server"].GetProperty("connections").GetInt64() >= 2);

        using var config = await DaemonAsync("config", "show");
        Assert.Equal("true", config.RootElement.GetProperty("rbd_cache").GetString());
        Assert.Equal("client.admin", config.RootElement.GetProperty("name").GetString());
        Assert.Equal(AdminSocket, config.RootElement.GetProperty("admin_socket").GetString());
        Assert.Equal("25165824", config.RootElement.GetProperty("rbd_cache_max_dirty").GetString());

        using var help = await DaemonAsync("help");
        Assert.True(help.RootElement.TryGetProperty("perf dump", out _));
    }

    [Fact]
    public async Task Daemon_RefusesAMissingSocketAndAnUnknownCommand_InOneLine()
    {
        var missing = await _nbd.Tools.RunAsync(RampartCli.Path, "daemon", Path.Combine(_nbd.Lab.Mons.Dir, "nosuch.asok"), "perf", "dump");
        Assert.Equal(1, missing.Exit);
        Assert.Equal($"rampart daemon: admin socket {Path.Combine(_nbd.Lab.Mons.Dir, "nosuch.asok")}: no such file (is the process running with this admin_socket?)",
            missing.Err.TrimEnd());

        var unknown = await _nbd.Tools.RunAsync(RampartCli.Path, "daemon", AdminSocket, "perf", "reset");
        Assert.Equal(1, unknown.Exit);
        Assert.Equal("rampart daemon: unknown command 'perf reset' (try 'help')", unknown.Err.TrimEnd());

        Assert.True(File.Exists(AdminSocket));
        Assert.True(_nbd.Lab.Mons.Stop("nbd"), "nbd serve exits cleanly on SIGTERM");
        Assert.False(File.Exists(AdminSocket), "the admin socket is removed on exit");
    }
}
