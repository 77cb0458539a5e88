using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rampart.Common.Threading;
using Rampart.Rados.Auth;
using Rampart.Rados.Client;
using Rampart.Rados.Maps;
using Rampart.Rados.Messaging;
using Rampart.Rados.Mon;
using Rampart.Rados.Osd.Store;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Osd;

/// <summary>
/// One OSD: a RocksDB <see cref="ObjectStore"/>, a <see cref="MessageServer"/> for clients and peers
/// (<see cref="OsdMessages"/>), and the monitors' map. Every new map is applied in order: PGs whose
/// acting set changed start a new interval and, where this OSD is primary, peer (OsdDaemon.Peering.cs).
/// Writes are ordered per PG by the primary and acknowledged once every acting OSD has them durable
/// (OsdDaemon.Ops.cs). Peers are pinged; a reset connection or a silent peer is reported to the
/// monitors at once (OsdDaemon.Heartbeat.cs).
/// </summary>
public sealed partial class OsdDaemon : IAsyncDisposable
{
    private readonly OsdConfig _config;
    private readonly ObjectStore _store;
    private readonly ILogger _log;
    private readonly MonClient _mon;
    private readonly ConcurrentDictionary<PgId, PlacementGroup> _pgs = new();
    private readonly Channel<ClusterMap> _maps = Channel.CreateUnbounded<ClusterMap>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _loops = [];
    private MessageServer _server = null!;
    private volatile ClusterMap? _map;
    private volatile Keyring _auth = Keyring.Empty;
    private long _authFetchedAt = long.MinValue;
    private TaskCompletionSource _mapArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _booted;

    private OsdDaemon(OsdConfig config, ObjectStore store, ILogger log)
    {
        _config = config;
        _store = store;
        _log = log;
        _mon = new MonClient(config.Monitors, config.Entity, config.Key) { Timeout = TimeSpan.FromSeconds(20) };
        _peers = new PeerLinks(this);
        _lastActive = new Batcher<PgId, PgActivation?>(ReadActivationsAsync, _stopping.Token);
        _activate = new Batcher<PgActivation, bool>(RecordActivationsAsync, _stopping.Token);
    }

    public int Id => _config.Id;

    public ClusterMap? Map => _map;

    public ObjectStore Store => _store;

    /// <summary>Malformed frames and failed handshakes seen by this OSD's server.</summary>
    public long FrameErrors => _server.FrameErrors;

    public static async Task<OsdDaemon> StartAsync(OsdConfig config, ILoggerFactory? logs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        logs ??= NullLoggerFactory.Instance;
        var store = ObjectStore.Open(config.DataDirectory, new ObjectStoreOptions { ChunkSize = config.ChunkSize });
        var daemon = new OsdDaemon(config, store, logs.CreateLogger($"osd.{config.Id}"));
        try
        {
            await daemon.FirstContactAsync(cancellationToken).ConfigureAwait(false);
            // A replica's write only prepares its batch before it waits for the group commit: no need for a pool thread.
            daemon._server = new MessageServer(config.Address, daemon.Lookup, daemon.HandleAsync,
                ConnectionOptions.Default with { AnswerInline = type => type == OsdMessages.RepOp });
            daemon._server.Start();
            daemon._mon.MapReceived += map => daemon._maps.Writer.TryWrite(map);
            daemon._loops.Add(Task.Run(daemon.MapLoopAsync));
            await daemon._mon.SubscribeAsync(0, cancellationToken).ConfigureAwait(false);
            await daemon.PrepareToBootAsync(cancellationToken).ConfigureAwait(false);
            await daemon.CatchUpBeforeBootAsync(cancellationToken).ConfigureAwait(false);
            daemon._booted = true;
            await daemon.BootAsync(cancellationToken).ConfigureAwait(false);
            daemon._loops.Add(Task.Run(daemon.HeartbeatLoopAsync));
            daemon._loops.Add(Task.Run(daemon.HousekeepingLoopAsync));
            daemon._loops.Add(Task.Run(daemon.BeaconLoopAsync));
        }
        catch
        {
            await daemon.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        daemon._log.LogInformation("osd.{Id} listening on {Address}, host {Host}, data {Data}", config.Id, config.Address, config.Host, config.DataDirectory);
        return daemon;
    }

    /// <summary>Monitors started at the same moment may not listen yet: keep trying for a while.</summary>
    private async Task FirstContactAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                await RefreshAuthAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (MonClientException e) when (DateTime.UtcNow < deadline && !e.Message.Contains("authentication failed", StringComparison.Ordinal))
            {
                _log.LogInformation("waiting for the monitors: {Reason}", e.Message);
                await Task.Delay(500, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Before the cluster learns this OSD is up (and its PGs wait for it): connects to the peers that are up, so the
    /// first peering after the boot pays for no handshakes. Best effort: a peer that does not answer is skipped.
    /// </summary>
    private async Task PrepareToBootAsync(CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(3));
        try
        {
            while (_map is null)
                await _mapArrived.Task.WaitAsync(limit.Token).ConfigureAwait(false);
            var peers = _map.Osds.Values.Where(o => o.Up && o.Id != _config.Id).Select(o => o.Id);
            await Task.WhenAll(peers.Select(async id =>
            {
                try { await _peers.RequestAsync(id, OsdMessages.Ping, MonMessages.EncodeEpoch(_map.Epoch), limit.Token).ConfigureAwait(false); }
                catch (Exception) when (!cancellationToken.IsCancellationRequested) { } // best effort: peering connects again
            })).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            _log.LogWarning("before boot: {Reason}", e.Message);
        }
    }

    private async Task BootAsync(CancellationToken cancellationToken)
    {
        var result = await _mon.CommandAsync(new OsdBoot(_config.Id, _config.Address.ToString(), _config.Host, _config.Weight), cancellationToken).ConfigureAwait(false);
        if (!result.Success)
            throw new InvalidOperationException($"osd.{_config.Id}: the monitors refused the boot: {result.Message}");
        _log.LogInformation("{Message}", result.Message);
    }

    // ---- auth ------------------------------------------------------------------------------------

    private async Task RefreshAuthAsync(CancellationToken cancellationToken)
    {
        _auth = await _mon.GetAuthAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Exchange(ref _authFetchedAt, Environment.TickCount64);
    }

    /// <summary>Entities come from the monitors' auth database; an unknown one triggers a refetch (at most once a second),
    /// so a client created a moment ago is known on its first connection.</summary>
    private KeyringEntry? Lookup(EntityName name)
    {
        if (_auth.Find(name) is { } entry)
            return entry;
        if (Environment.TickCount64 - Interlocked.Read(ref _authFetchedAt) < 1000)
            return null;
        try
        {
            RefreshAuthAsync(_stopping.Token).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is MonClientException or OperationCanceledException)
        {
            _log.LogWarning("cannot refresh the auth database: {Reason}", e.Message);
        }
        return _auth.Find(name);
    }

    private static void RequireCaps(Connection connection, CapOp op, string? pool)
    {
        var session = connection.Session;
        if (!session.Caps.Allows("osd", op, pool))
        {
            string has = session.Caps["osd"]?.Text is { } text ? $"osd '{text}'" : "no osd caps";
            string what = op.HasFlag(CapOp.Write) ? "write" : op.HasFlag(CapOp.Execute) ? "execute" : "read";
            throw new UnauthorizedAccessException($"Error EACCES: {session.Entity} may not {what} {(pool is null ? "here" : $"pool '{pool}'")} ({has})");
        }
    }

    /// <summary>Messages between OSDs: only OSD entities (or holders of osd 'allow *') may send them.</summary>
    private static void RequirePeer(Connection connection)
    {
        var session = connection.Session;
        if (session.Entity.Type != "osd" && !session.Caps.Allows("osd", CapOp.Read | CapOp.Write | CapOp.Execute))
            throw new UnauthorizedAccessException($"Error EACCES: {session.Entity} is not an OSD");
    }

    // ---- requests --------------------------------------------------------------------------------

    private async ValueTask<ReadOnlyMemory<byte>> HandleAsync(Connection connection, Frame request, CancellationToken cancellationToken)
    {
        switch (request.Type)
        {
            case OsdMessages.ClientOp:
                return await ClientOpAsync(connection, OpRequest.Decode(request.Payload.Span), cancellationToken).ConfigureAwait(false);
            case OsdMessages.Ping:
                RequirePeer(connection);
                return MonMessages.EncodeEpoch(_map?.Epoch ?? 0);
            case OsdMessages.Stats:
                RequireCaps(connection, CapOp.Read, null);
                return StatsJson();
            case OsdMessages.Scrub:
                RequireCaps(connection, CapOp.Read | CapOp.Write | CapOp.Execute, null);
                return await ScrubRequestAsync(request.Payload, cancellationToken).ConfigureAwait(false);
        }
        RequirePeer(connection);
        return request.Type switch
        {
            OsdMessages.RepOp => await RepOpAsync(connection, RepOpRequest.Decode(request.Payload.Span), cancellationToken).ConfigureAwait(false),
            OsdMessages.PgQuery => QueryPg(request.Payload.Span),
            OsdMessages.PgLog => ReadLog(request.Payload.Span),
            OsdMessages.PullObject => PullObject(request.Payload.Span),
            OsdMessages.PushObjects => await PushObjectsAsync(request.Payload, cancellationToken).ConfigureAwait(false),
            OsdMessages.Activate => await ActivateAsync(request.Payload, cancellationToken).ConfigureAwait(false),
            OsdMessages.ScrubMap => ScrubMap(request.Payload.Span),
            OsdMessages.RemovePg => await RemoveStrayAsync(request.Payload, cancellationToken).ConfigureAwait(false),
            OsdMessages.ListPg => ListPg(request.Payload.Span),
            _ => throw new InvalidDataException($"Error EINVAL: unknown OSD message type 0x{request.Type:x4}"),
        };
    }

    // ---- maps ------------------------------------------------------------------------------------

    /// <summary>Applies maps one at a time, in epoch order; a burst is applied as its newest map.</summary>
    private async Task MapLoopAsync()
    {
        try
        {
            while (await _maps.Reader.WaitToReadAsync(_stopping.Token).ConfigureAwait(false))
            {
                ClusterMap? newest = null;
                while (_maps.Reader.TryRead(out var map))
                {
                    if (newest is null || map.Epoch > newest.Epoch)
                        newest = map;
                }
                if (newest is null || (_map is { } current && newest.Epoch <= current.Epoch))
                    continue;
                try
                {
                    await SplitPgsAsync(newest).ConfigureAwait(false);
                    ApplyMap(newest);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _log.LogError(e, "applying map epoch {Epoch} failed", newest.Epoch);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>
    /// Before a map that grew a pool's pg_num is applied (and this OSD answers with its epoch): its PGs of that pool stop
    /// serving — new intervals follow from the map — and, once their running ops are done, the store splits them
    /// (ObjectStore.Split.cs). Peers that ask for a child PG wait for this epoch first (<see cref="PeersSplitAsync"/>).
    /// </summary>
    private async Task SplitPgsAsync(ClusterMap map)
    {
        foreach (var pool in map.Pools.Values)
        {
            var layout = _store.Layout(pool.Id);
            if (layout is { } known && known.PgNum >= pool.PgNum)
                continue;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var pgs = _pgs.Values.Where(pg => pg.Id.PoolId == pool.Id).ToList();
            foreach (var pg in pgs)
                pg.StartInterval(null);
            foreach (var pg in pgs)
            {
                await pg.Lock.WaitAsync(_stopping.Token).ConfigureAwait(false);
                pg.Lock.Release();
            }
            long moved = await _store.EnsureLayoutAsync(pool.Id, pool.PgNum, pool.SplitEpoch).ConfigureAwait(false);
            if (layout is { } old)
                _log.LogInformation("pool '{Pool}': pg_num {From} -> {To}: split, {Moved} objects moved to child PGs in {Ms} ms",
                    pool.Name, old.PgNum, pool.PgNum, moved, clock.ElapsedMilliseconds);
        }
    }

    private void ApplyMap(ClusterMap map)
    {
        _map = map;
        var arrived = Interlocked.Exchange(ref _mapArrived, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        arrived.TrySetResult();
        var me = map.FindOsd(_config.Id);
        if (me is null || !me.Up || me.Address != _config.Address.ToString())
        {
            if (_booted && !_stopping.IsCancellationRequested)
            {
                _log.LogWarning("map epoch {Epoch} has osd.{Id} down: booting again", map.Epoch, _config.Id);
                _ = Task.Run(async () =>
                {
                    try { await BootAsync(_stopping.Token).ConfigureAwait(false); }
                    catch (Exception e) when (e is MonClientException or OperationCanceledException or InvalidOperationException)
                    {
                        _log.LogWarning("boot failed: {Reason}", e.Message);
                    }
                });
            }
        }
        var seen = new HashSet<PgId>();
        foreach (var pool in map.Pools.Values)
        {
            foreach (var (pgId, up) in map.UpSets(map.PgsOf(pool)))
            {
                seen.Add(pgId);
                var pg = _pgs.GetOrAdd(pgId, id => new PlacementGroup(id));
                var interval = new PgInterval(map.Epoch, pool, up, up.Select(o => map.Osds[o].UpFrom).ToArray());
                if (pg.Interval is { } old && old.SameAs(interval))
                {
                    pg.Pool = pool;
                    // Waiting for an OSD of its last active set: ask again with every map (the one it waits for may be
                    // out, and its return then changes no acting set; or it was declared lost).
                    if (old.Primary == _config.Id && pg.State is "down" or "incomplete")
                        Repeer(pg, old, TimeSpan.Zero);
                    continue;
                }
                pg.StartInterval(interval);
                if (interval.Primary == _config.Id)
                    _ = Task.Run(() => PeerAsync(pg, interval));
            }
        }
        foreach (var pg in _pgs.Values)
        {
            if (!seen.Contains(pg.Id) && pg.Interval is not null)
            {
                pg.StartInterval(null); // pool deleted
                _ = Task.Run(() => _store.RemovePgAsync(pg.Id));
            }
        }
        _peers.Prune(map);
    }

    /// <summary>Waits until the map is at least <paramref name="epoch"/> (a client saw a newer one), up to a deadline.</summary>
    private async Task<ClusterMap> MapAtLeastAsync(long epoch, CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + 5000;
        while (true)
        {
            var arrived = _mapArrived.Task;
            var map = _map;
            if (map is not null && map.Epoch >= epoch)
                return map;
            long left = deadline - Environment.TickCount64;
            if (left <= 0)
            {
                if (map is not null)
                    return map;
                throw new TimeoutException($"Error EAGAIN: osd.{_config.Id} has no map yet");
            }
            if (map is not null && map.Epoch < epoch)
                _ = _mon.SubscribeAsync(map.Epoch, _stopping.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            try
            {
                await arrived.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(left, 500)), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
            return;
        _stopping.Cancel();
        foreach (var pg in _pgs.Values)
            pg.StartInterval(null);
        if (_server is not null)
            await _server.DisposeAsync().ConfigureAwait(false);
        _maps.Writer.TryComplete();
        try
        {
            await Task.WhenAll(_loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await _peers.DisposeAsync().ConfigureAwait(false);
        await _mon.DisposeAsync().ConfigureAwait(false);
        _store.Dispose();
    }

    /// <summary>Graceful stop: tell the monitors first, so peers re-peer at once instead of detecting a failure.</summary>
    public async Task StopAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            var result = await _mon.CommandAsync(new OsdMarkDown(_config.Id, "shutting down", DateTimeOffset.UtcNow), timeout.Token).ConfigureAwait(false);
            _log.LogInformation("{Message}", result.Message);
        }
        catch (Exception e) when (e is MonClientException or OperationCanceledException)
        {
            _log.LogWarning("could not mark myself down: {Reason}", e.Message);
        }
        await DisposeAsync().ConfigureAwait(false);
    }
}
