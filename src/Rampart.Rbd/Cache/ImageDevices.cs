using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rampart.Common.AdminSocket;
using Rampart.Rbd.Nbd;

namespace Rampart.Rbd.Cache;

/// <summary>
/// The devices a client process (nbd serve) hands out for images. With rbd_cache, one <see cref="WritebackCache"/> per
/// image per process, shared by every handle on it — NBD_FLAG_CAN_MULTI_CONN promises that a FLUSH on one
/// connection covers the writes completed on the others — opened by the first handle and written out and closed
/// after the last is disposed; a handle opened while it closes waits until it has, so it reads every write. Without
/// the cache, each handle has its own device, as librbd clients each have their own image. Either way every request
/// is counted in the image's <see cref="ImagePerf"/> (and <see cref="CachePerf"/>), published in the
/// <see cref="PerfRegistry"/> for the life of the process, so a client that has gone can still be inspected.
/// </summary>
public sealed class ImageDevices(RbdCacheConfig config, PerfRegistry? registry = null, ILogger? logger = null, TimeProvider? time = null)
{
    /// <summary>Opens the device for one image: the device and its perf section name (<see cref="ImagePerf.SectionName"/>).</summary>
    public delegate Task<(IBlockDevice Device, string Section)> Opener(CancellationToken cancellationToken);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Shared> _shared = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (ImagePerf Image, CachePerf? Cache)> _perf = new(StringComparer.Ordinal);
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public RbdCacheConfig Config => config;

    private sealed class Shared(Task<(WritebackCache Cache, ImagePerf Perf)> opening)
    {
        public Task<(WritebackCache Cache, ImagePerf Perf)> Opening { get; } = opening;

        public int Handles { get; set; } = 1;

        /// <summary>Set when the last handle went: done once the cache is closed (never faults).</summary>
        public Task? Closing { get; set; }
    }

    /// <summary>Images with a cache open now (tests).</summary>
    public int OpenCaches
    {
        get { lock (_lock) return _shared.Count; }
    }

    /// <summary>A handle on image <paramref name="key"/> ("pool/image"); <paramref name="open"/> opens it when needed.</summary>
    public async ValueTask<IBlockDevice> OpenAsync(string key, Opener open, CancellationToken cancellationToken)
    {
        if (!config.Enabled)
        {
            var (device, section) = await open(cancellationToken).ConfigureAwait(false);
            return new MeteredDevice(device, PerfFor(section).Image, device.DisposeAsync, _time);
        }
        while (true)
        {
            Shared? entry;
            Task? closing = null;
            lock (_lock)
            {
                if (_shared.TryGetValue(key, out entry))
                {
                    if (entry.Closing is { } c) closing = c;
                    else entry.Handles++;
                }
                else
                {
                    // Opened for every handle, so not cancelled by any one of them.
                    entry = new Shared(Task.Run(() => OpenSharedAsync(key, open)));
                    _shared.Add(key, entry);
                }
            }
            if (closing is not null)
            {
                await closing.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }
            try
            {
                var (cache, perf) = await entry.Opening.WaitAsync(cancellationToken).ConfigureAwait(false);
                return new MeteredDevice(cache, perf, () => ReleaseAsync(key, entry), _time);
            }
            catch
            {
                await ReleaseAsync(key, entry).ConfigureAwait(false);
                throw;
            }
        }
    }

    private async Task<(WritebackCache, ImagePerf)> OpenSharedAsync(string key, Opener open)
    {
        var (device, section) = await open(CancellationToken.None).ConfigureAwait(false);
        var perf = PerfFor(section);
        var cache = new WritebackCache(device, config, key, perf.Cache, _logger, _time);
        CacheLog.Opened(_logger, key, config.Size, config.MaxDirty, config.TargetDirty, config.MaxDirtyAge.TotalSeconds, config.WritethroughUntilFlush);
        return (cache, perf.Image);
    }

    private async ValueTask ReleaseAsync(string key, Shared entry)
    {
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (--entry.Handles > 0) return;
            entry.Closing = closed.Task;
        }
        try
        {
            var (cache, _) = await entry.Opening.ConfigureAwait(false);
            await cache.DisposeAsync().ConfigureAwait(false);
            CacheLog.Closed(_logger, key);
        }
        catch (Exception) when (entry.Opening.IsFaulted || entry.Opening.IsCanceled)
        {
            // The open failed: its handles got the error, and there is nothing to close.
        }
        finally
        {
            lock (_lock)
                if (_shared.TryGetValue(key, out var current) && current == entry) _shared.Remove(key);
            closed.TrySetResult();
        }
    }

    private (ImagePerf Image, CachePerf? Cache) PerfFor(string section)
    {
        lock (_lock)
        {
            if (_perf.TryGetValue(section, out var perf)) return perf;
            perf = (new ImagePerf(section), config.Enabled ? new CachePerf(CachePerf.SectionName(section)) : null);
            _perf.Add(section, perf);
            registry?.Add(perf.Image.Counters);
            if (perf.Cache is not null) registry?.Add(perf.Cache.Counters);
            return perf;
        }
    }
}
