using System.IO.Hashing;
using Rampart.Rados.Client;
using Rampart.Testing;

namespace Rampart.Integration.Tests.Block;

/// <summary>
/// The article's OpenStack workflows (docs/openstack.md), each step as the service that does it, with its own key:
/// Glance imports a RAW image and protects a snapshot, Cinder clones a volume from it in O(1) and snapshots it,
/// a full then an incremental backup go into pool backups (read as cinder, written as cinder-backup, as Cinder's RBD
/// backup driver does), and a restore reads back identical.
/// </summary>
[Collection("block cluster")]
public sealed class OpenStackTests(BlockCluster cluster)
{
    private readonly StorageLab _lab = cluster.Lab;
    private string Dir => _lab.Mons.Dir;

    private async Task<string> KeyAsync(string entity, string osdCaps)
    {
        string keyring = $"{entity}.keyring";
        await _lab.OkAsync("auth", "get-or-create", $"client.{entity}", "mon", "profile rbd", "osd", osdCaps, "-o", Path.Combine(Dir, keyring));
        return _lab.Mons.ConfWithKeyring(keyring);
    }

    private Task<string> AsAsync(string conf, string entity, params string[] args) => _lab.OkAsync([.. args, "-c", conf, "--id", entity]);

    private async Task<ulong> ObjectCountAsync(RadosClient client, string pool)
    {
        ulong count = 0;
        await foreach (var _ in client.OpenPool(pool).ListObjectsAsync()) count++;
        return count;
    }

    /// <summary>`sh -c` for the pipes an operator types (export-diff - | import-diff -).</summary>
    private async Task ShellAsync(string command)
    {
        using var tools = new Tools(Dir);
        await tools.OkAsync("bash", "-o", "pipefail", "-c", command.Replace("rampart ", $"{RampartCli.Path} ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Glance_image_to_cinder_volume_to_incremental_backups_and_restore()
    {
        foreach (var pool in new[] { "images", "volumes", "vms", "backups" })
            await _lab.OkAsync("pool", "create", pool, "--pg-num", "16");
        await _lab.WaitForCleanAsync();
        string glance = await KeyAsync("glance", "profile rbd pool=images");
        string cinder = await KeyAsync("cinder", "profile rbd pool=volumes, profile rbd pool=vms, profile rbd-read-only pool=images");
        string backup = await KeyAsync("cinder-backup", "profile rbd pool=backups");

        // Glance: a RAW image, then a protected snapshot to clone from. Grown to 4 GiB (thin) to show clones cost nothing per byte.
        var raw = new byte[24 << 20];
        new Random(7).NextBytes(raw.AsSpan(0, 20 << 20));
        await File.WriteAllBytesAsync(Path.Combine(Dir, "cirros.raw"), raw);
        await AsAsync(glance, "glance", "rbd", "import", Path.Combine(Dir, "cirros.raw"), "images/cirros");
        await AsAsync(glance, "glance", "rbd", "resize", "images/cirros", "--size", "4G");
        await AsAsync(glance, "glance", "rbd", "snap", "create", "images/cirros@snap");
        await AsAsync(glance, "glance", "rbd", "snap", "protect", "images/cirros@snap");
        var denied = await _lab.RunAsync("rbd", "create", "volumes/sneaky", "--size", "1G", "-c", glance, "--id", "glance");
        Assert.Contains("EACCES", denied.Err, StringComparison.Ordinal);

        // Cinder: a volume cloned from it — only a header and a clone record are written, whatever the size.
        await using var admin = await _lab.ConnectAsync();
        ulong before = await ObjectCountAsync(admin, "volumes");
        await AsAsync(cinder, "cinder", "rbd", "clone", "images/cirros@snap", "volumes/volume-1");
        Assert.InRange(await ObjectCountAsync(admin, "volumes") - before, 1ul, 3ul);
        Assert.Contains("size 4 GiB", await AsAsync(cinder, "cinder", "rbd", "info", "volumes/volume-1"), StringComparison.Ordinal);
        Assert.Contains("volumes/volume-1", await _lab.OkAsync("rbd", "children", "images/cirros@snap"), StringComparison.Ordinal);
        var unprotect = await _lab.RunAsync("rbd", "snap", "unprotect", "images/cirros@snap", "-c", glance, "--id", "glance");
        Assert.NotEqual(0, unprotect.Exit); // Glance cannot see the volumes pool: it must not guess there are no clones

        // The VM writes to its volume; Cinder snapshots it; cinder-backup takes a full backup.
        await using (var cinderClient = await _lab.ConnectAsync("client.cinder", cinder))
        await using (var volume = await Rbd.Images.Image.OpenAsync(cinderClient, Rbd.ImageSpec.Parse("volumes/volume-1")))
        {
            await volume.WriteAsync(5 << 20, new byte[] { 1, 2, 3, 4 }, false, default);
            await volume.CreateSnapAsync("backup-1");
            await volume.WriteAsync(3L << 30, Enumerable.Repeat((byte)9, 1 << 20).ToArray(), false, default);
            await volume.WriteAsync(0, new byte[4096], false, default);
        }
        await AsAsync(backup, "cinder-backup", "rbd", "create", "backups/volume-1.backup", "--size", "4G");
        await ShellAsync($"rampart rbd export-diff volumes/volume-1@backup-1 - -c {cinder} --id cinder | rampart rbd import-diff - backups/volume-1.backup -c {backup} --id cinder-backup");
        await AsAsync(cinder, "cinder", "rbd", "snap", "create", "volumes/volume-1@backup-2");
        await ShellAsync($"rampart rbd export-diff --from-snap backup-1 volumes/volume-1@backup-2 - -c {cinder} --id cinder | rampart rbd import-diff - backups/volume-1.backup -c {backup} --id cinder-backup");
        Assert.Contains("backup-2", await AsAsync(backup, "cinder-backup", "rbd", "snap", "ls", "backups/volume-1.backup"), StringComparison.Ordinal);

        // Restore the incremental backup into a new volume: identical to the volume at that snapshot.
        await AsAsync(cinder, "cinder", "rbd", "create", "volumes/volume-restored", "--size", "4G");
        await ShellAsync($"rampart rbd export-diff backups/volume-1.backup@backup-2 - -c {backup} --id cinder-backup | rampart rbd import-diff - volumes/volume-restored -c {cinder} --id cinder");
        Assert.Equal(await ChecksumAsync(admin, "volumes/volume-1@backup-2"), await ChecksumAsync(admin, "volumes/volume-restored"));
        Assert.NotEqual(await ChecksumAsync(admin, "volumes/volume-1@backup-1"), await ChecksumAsync(admin, "volumes/volume-restored"));
    }

    /// <summary>CRC-64 of the image's bytes, reading only where data can be (the first 32 MiB and from 3 GiB), zeros elsewhere by construction.</summary>
    private static async Task<ulong> ChecksumAsync(RadosClient client, string spec)
    {
        await using var image = await Rbd.Images.Image.OpenAsync(client, Rbd.ImageSpec.Parse(spec));
        var crc = new Crc64();
        crc.Append(BitConverter.GetBytes(image.Size));
        foreach (long start in new[] { 0L, 3L << 30 })
        {
            var bytes = new byte[32 << 20];
            await image.ReadAsync(start, bytes, default);
            crc.Append(bytes);
        }
        return crc.GetCurrentHashAsUInt64();
    }
}
