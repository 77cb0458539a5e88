using Rampart.Rados.Client;
using Rampart.Rbd.Cache;
using Rampart.Rbd.Nbd;

namespace Rampart.Rbd.Images;

/// <summary>
/// What `nbd serve` exports: `pool/image` (read-write) and `pool/image@snap` (read-only). With a fixed list only
/// those names; otherwise any image of the cluster, opened when a client asks for it. Each connection gets its own
/// image handle (its own snapshot context), so several connections to one image are as safe as several clients —
/// unless <paramref name="devices"/> is given: it counts every request per image for perf dump and, with rbd_cache,
/// shares one writeback cache per image among the connections (see <see cref="ImageDevices"/>).
/// </summary>
public sealed class ImageCatalog(RadosClient client, IReadOnlyList<ImageSpec>? exports = null, ImageDevices? devices = null) : IExportCatalog
{
    public async ValueTask<IBlockDevice?> OpenAsync(string name, CancellationToken cancellationToken)
    {
        ImageSpec spec;
        try
        {
            spec = ImageSpec.Parse(name);
        }
        catch (ArgumentException)
        {
            return null;
        }
        if (exports is not null && !exports.Contains(spec))
            return null;
        try
        {
            if (devices is not null)
                return await devices.OpenAsync(spec.ToString(), async token =>
                {
                    var image = await Image.OpenAsync(client, spec, token).ConfigureAwait(false);
                    return (image, ImagePerf.SectionName(spec, image.Header.Id));
                }, cancellationToken).ConfigureAwait(false);
            return await Image.OpenAsync(client, spec, cancellationToken).ConfigureAwait(false);
        }
        catch (RadosException e) when (e.Errno == "ENOENT")
        {
            return null;
        }
    }

    public async ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
    {
        if (exports is not null)
            return [.. exports.Select(e => e.ToString())];
        var names = new List<string>();
        foreach (var pool in client.Map.Pools.Values.OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            try
            {
                names.AddRange((await new RbdPool(client, pool.Name).ListAsync(cancellationToken).ConfigureAwait(false)).Select(image => $"{pool.Name}/{image}"));
            }
            catch (RadosException e) when (e.Errno is "EACCES" or "EPERM")
            {
                // a pool this client may not read: not its exports
            }
        }
        return names;
    }
}
