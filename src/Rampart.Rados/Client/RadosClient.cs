using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using Rampart.Rados.Auth;
using Rampart.Rados.Config;
using Rampart.Rados.Maps;
using Rampart.Rados.Messaging;
using Rampart.Rados.Osd;
using Rampart.Rados.Osd.Store;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Client;

/// <summary>An op refused or failed; <see cref="Errno"/> is the "E…" code of the message ("ENOENT", "EACCES", "ETIMEDOUT").</summary>
public class RadosException(string message) : Exception(message)
{
    public string Errno => Message.StartsWith("Error E", StringComparison.Ordinal) && Message.IndexOf(':') is > 6 and var colon
        ? Message[6..colon] : "EIO";
}

/// <summary>
/// The object store client (librados): keeps the newest cluster map (monitor subscription), computes each
/// object's PG and primary locally, sends the op there, and resends — same request id, so it is applied
/// once — when the map changes, the primary is gone, or the PG is not active yet. Gives up after
/// <see cref="OpTimeout"/> with an ETIMEDOUT naming the PG.
/// </summary>
public sealed class RadosClient : IAsyncDisposable
{
    private static readonly ConnectionOptions Options = new()
    {
        ConnectTimeout = TimeSpan.FromSeconds(2),
        HandshakeTimeout = TimeSpan.FromSeconds(5),
        RequestTimeout = TimeSpan.FromSeconds(10),
    };

    private readonly MonClient _mon;
    private readonly byte[] _key;
    private readonly string _nonce = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
    private readonly ConcurrentDictionary<int, (string Address, Task<Connection> Connecting)> _osds = new();
    private readonly Lock _lock = new();
    private ClusterMap _map = null!;
    private Primaries? _primaries;
    private TaskCompletionSource _newMap = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _tid;

    private RadosClient(MonClient mon, byte[] key)
    {
        _mon = mon;
        _key = key;
        _mon.MapReceived += OnMap;
    }

    /// <summary>How long an op keeps resending before it fails (Ceph's rados_osd_op_timeout; 0 in Ceph means forever).</summary>
    public TimeSpan OpTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public ClusterMap Map => _map;

    public EntityName Entity => _mon.Entity;

    public MonClient Monitors => _mon;

    public static Task<RadosClient> ConnectAsync(RampartConf conf, string? entity = null, CancellationToken cancellationToken = default)
    {
        var mon = MonClient.FromConf(conf, entity);
        return ConnectAsync(mon, OpTimeoutFrom(conf, mon.Entity.ToString()), cancellationToken);
    }

    /// <summary>rados_osd_op_timeout (seconds) for the entity, else 30 s.</summary>
    public static TimeSpan OpTimeoutFrom(RampartConf conf, string entity) =>
        TimeSpan.FromSeconds(conf.GetInt(entity, "rados_osd_op_timeout", 30) is > 0 and var s ? s : 30);

    /// <summary>Takes over <paramref name="mon"/> (disposed with the client).</summary>
    public static async Task<RadosClient> ConnectAsync(MonClient mon, TimeSpan? opTimeout = null, CancellationToken cancellationToken = default)
    {
        var client = new RadosClient(mon, mon.Key) { OpTimeout = opTimeout ?? TimeSpan.FromSeconds(30) };
        try
        {
            client.OnMap(await mon.GetMapAsync(cancellationToken).ConfigureAwait(false));
            await mon.SubscribeAsync(client._map.Epoch, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return client;
    }

    private void OnMap(ClusterMap map)
    {
        TaskCompletionSource signal;
        lock (_lock)
        {
            if (_map is not null && map.Epoch <= _map.Epoch)
                return;
            _map = map;
            _primaries = new Primaries(map);
            signal = _newMap;
            _newMap = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        signal.TrySetResult();
    }

    /// <summary>Waits up to <paramref name="wait"/> for a map newer than <paramref name="epoch"/>.</summary>
    private async Task WaitForMapAsync(long epoch, TimeSpan wait, CancellationToken cancellationToken)
    {
        Task signal;
        lock (_lock)
        {
            if (_map.Epoch > epoch)
                return;
            signal = _newMap.Task;
        }
        try
        {
            await signal.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    public IoContext OpenPool(string name) =>
        new(this, _map.FindPool(name) ?? throw new RadosException($"Error ENOENT: pool '{name}' does not exist"));

    /// <summary>Allocates a self-managed snapshot id in <paramref name="pool"/> (RBD snapshots).</summary>
    public async Task<ulong> CreateSelfManagedSnapAsync(string pool, CancellationToken cancellationToken = default)
    {
        var result = await _mon.CommandAsync(new Mon.SnapCreate(pool), cancellationToken).ConfigureAwait(false);
        return result.Success && ulong.TryParse(result.Output, System.Globalization.CultureInfo.InvariantCulture, out var id) ? id : throw new RadosException(result.Message);
    }

    /// <summary>Tells the pool's writers that an image's snapshot set changed (see <see cref="PoolInfo.SnapGeneration"/>).</summary>
    public async Task PublishSnapsAsync(string pool, CancellationToken cancellationToken = default)
    {
        var result = await _mon.CommandAsync(new Mon.SnapPublish(pool), cancellationToken).ConfigureAwait(false);
        if (!result.Success) throw new RadosException(result.Message);
    }

    /// <summary>Waits until this client's map is at least <paramref name="epoch"/> (or <paramref name="wait"/> passes).</summary>
    public async Task WaitForEpochAsync(long epoch, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + wait;
        while (_map.Epoch < epoch && DateTime.UtcNow < deadline)
            await WaitForMapAsync(_map.Epoch, deadline - DateTime.UtcNow, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Releases a self-managed snapshot id: the OSDs trim what only it kept.</summary>
    public async Task RemoveSelfManagedSnapAsync(string pool, ulong id, CancellationToken cancellationToken = default)
    {
        var result = await _mon.CommandAsync(new Mon.SnapRemove(pool, id), cancellationToken).ConfigureAwait(false);
        if (!result.Success) throw new RadosException(result.Message);
    }

    /// <summary>Sends one op on <paramref name="objectName"/> (or, for a PG listing, to <paramref name="pgOverride"/>) and resends until it is answered.</summary>
    internal async Task<OpReply> SubmitAsync(long poolId, string objectName, IReadOnlyList<ObjectOp> ops, SnapContext snaps, ulong? readSnap,
        CancellationToken cancellationToken, PgId? pgOverride = null, ulong? snapGuard = null)
    {
        string reqId = $"{_mon.Entity}.{_nonce}:{Interlocked.Increment(ref _tid)}";
        var frame = await ToPrimaryAsync(OsdMessages.ClientOp,
            map => pgOverride ?? map.Locate(map.FindPool(poolId) ?? throw new RadosException($"Error ENOENT: pool {poolId} does not exist (any more)"), objectName),
            (map, pg) => new OpRequest(pg.PoolId, pg.Seed, objectName, map.Epoch, reqId, snaps, readSnap, ops, snapGuard).Encode(),
            cancellationToken).ConfigureAwait(false);
        return OpReply.Decode(frame.Payload.Span);
    }

    /// <summary>Each PG's primary in one map, computed by CRUSH once per PG rather than once per op.</summary>
    private sealed class Primaries(ClusterMap map)
    {
        private readonly ConcurrentDictionary<PgId, int?> _byPg = new();

        public ClusterMap Map { get; } = map;

        public int? Of(PgId pg) => _byPg.GetOrAdd(pg, static (p, m) => m.Primary(p), Map);
    }

    private int? PrimaryOf(ClusterMap map, PgId pg) =>
        _primaries is { } cache && ReferenceEquals(cache.Map, map) ? cache.Of(pg) : map.Primary(pg);

    /// <summary>How long an OSD that does not know this client yet is asked again (it refetches the monitors' auth database).</summary>
    private static readonly TimeSpan UnknownEntityGrace = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Sends a request to the primary of the PG <paramref name="locate"/> picks in the current map, and resends — to
    /// whoever the newest map names — on EAGAIN/ESTALE, a lost connection or a primary that stops answering, until
    /// <see cref="OpTimeout"/>, and to an OSD that does not know this client yet for <see cref="UnknownEntityGrace"/>.
    /// Any other refusal is a <see cref="RadosException"/> at once.
    /// </summary>
    private async Task<Frame> ToPrimaryAsync(ushort type, Func<ClusterMap, PgId> locate, Func<ClusterMap, PgId, byte[]> payload, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + OpTimeout;
        string last = "no attempt yet";
        DateTime? unknownSince = null;
        PgId pg = default;
        while (DateTime.UtcNow < deadline)
        {
            var map = _map;
            pg = locate(map);
            if (PrimaryOf(map, pg) is not { } primary)
            {
                last = $"pg {pg} has no OSD up";
                await WaitForMapAsync(map.Epoch, TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                continue;
            }
            try
            {
                var connection = await ConnectAsync(primary, map.Osds[primary].Address, cancellationToken).ConfigureAwait(false);
                var pending = connection.RequestAsync(type, payload(map, pg), cancellationToken);
                // A primary that vanished without a reset never answers: move on as soon as the map names another one.
                while (!pending.IsCompleted)
                {
                    Task changed;
                    lock (_lock)
                        changed = _newMap.Task;
                    await Task.WhenAny(pending, changed).ConfigureAwait(false);
                    if (!pending.IsCompleted && PrimaryOf(_map, pg) != primary)
                    {
                        _ = pending.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                        throw new TimeoutException($"pg {pg} moved from osd.{primary} at epoch {_map.Epoch}");
                    }
                }
                return await pending.ConfigureAwait(false);
            }
            catch (RemoteRequestException e) when (e.Message.StartsWith("Error EAGAIN", StringComparison.Ordinal) || e.Message.StartsWith("Error ESTALE", StringComparison.Ordinal))
            {
                last = $"osd.{primary}: {e.Message}";
            }
            catch (RemoteRequestException e)
            {
                throw new RadosException(e.Message);
            }
            catch (AuthenticationException e) when (e.Message.Contains("unknown entity", StringComparison.Ordinal)
                && (unknownSince ??= DateTime.UtcNow) > DateTime.UtcNow - UnknownEntityGrace)
            {
                // The monitors know us (they gave us the map): this OSD has not fetched an entity created a moment ago yet.
                last = $"osd.{primary}: {e.Message}";
                Forget(primary);
            }
            catch (AuthenticationException e)
            {
                throw new RadosException($"Error EACCES: osd.{primary} refused {_mon.Entity}: {e.Message}");
            }
            catch (Exception e) when (e is ConnectionClosedException or TimeoutException or IOException or SocketException)
            {
                last = $"osd.{primary}: {e.Message}";
                Forget(primary);
            }
            // The map will say who serves the PG now; if it does not change soon, the PG is still peering: retry.
            await WaitForMapAsync(map.Epoch, TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
        }
        throw new RadosException($"Error ETIMEDOUT: no OSD served pg {pg} within {OpTimeout.TotalSeconds:0} s (last: {last})");
    }

    private Task<Connection> ConnectAsync(int osd, string address, CancellationToken cancellationToken)
    {
        var entry = _osds.AddOrUpdate(osd,
            _ => (address, Open(address)),
            (_, old) => old.Address == address && !(old.Connecting.IsCompleted && (!old.Connecting.IsCompletedSuccessfully || old.Connecting.Result.IsClosed))
                ? old : (address, Open(address)));
        return entry.Connecting.WaitAsync(cancellationToken);
    }

    private Task<Connection> Open(string address) =>
        IPEndPoint.TryParse(address, out var endpoint)
            ? Connection.ConnectAsync(endpoint, _mon.Entity, _key, Options)
            : Task.FromException<Connection>(new IOException($"bad OSD address '{address}' in the map"));

    private void Forget(int osd)
    {
        if (_osds.TryRemove(osd, out var entry))
            _ = entry.Connecting.ContinueWith(t => t.Result.DisposeAsync(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
    }

    /// <summary>The OSD's own report (PG states it leads, disk use); null when it cannot be reached.</summary>
    public async Task<OsdStats?> GetOsdStatsAsync(int osd, CancellationToken cancellationToken = default)
    {
        if (_map.FindOsd(osd) is not { Up: true } info)
            return null;
        try
        {
            var connection = await ConnectAsync(osd, info.Address, cancellationToken).ConfigureAwait(false);
            var frame = await connection.RequestAsync(OsdMessages.Stats, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            return System.Text.Json.JsonSerializer.Deserialize(frame.Payload.Span, OsdJsonContext.Default.OsdStats);
        }
        catch (Exception e) when (e is ConnectionClosedException or TimeoutException or IOException or SocketException or RemoteRequestException or AuthenticationException)
        {
            Forget(osd);
            return null;
        }
    }

    /// <summary>Asks the PG's primary to scrub it now and waits for the report.</summary>
    public async Task<ScrubResult> ScrubAsync(PgId pg, bool deep, CancellationToken cancellationToken = default)
    {
        var frame = await ToPrimaryAsync(OsdMessages.Scrub,
            map => map.FindPool(pg.PoolId) is { } pool && pg.Seed < pool.PgNum ? pg : throw new RadosException($"Error ENOENT: pg {pg} does not exist"),
            (_, _) =>
            {
                var w = new WireWriter();
                Wire.Pg(w, pg);
                return w.Bool(deep).ToArray();
            },
            cancellationToken).ConfigureAwait(false);
        return System.Text.Json.JsonSerializer.Deserialize(frame.Payload.Span, OsdJsonContext.Default.ScrubResult)!;
    }

    public async ValueTask DisposeAsync()
    {
        _mon.MapReceived -= OnMap;
        foreach (var osd in _osds.Keys)
            Forget(osd);
        await _mon.DisposeAsync().ConfigureAwait(false);
    }
}
