using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using Rampart.Common.Processes;
using Microsoft.Extensions.Logging.Abstractions;
using Rampart.Consensus;
using Rampart.Rados.Auth;
using Rampart.Rados.Maps;
using Rampart.Rados.Messaging;

namespace Rampart.Rados.Mon;

/// <summary>
/// One monitor: a Raft member replicating <see cref="MonitorState"/> (commands in the log, the map
/// and auth database as state) and a <see cref="MessageServer"/> on mon_addr serving
/// <see cref="MonMessages"/>. Connections authenticate against the replicated auth database; the
/// bootstrap keyring stands in until the first leader has seeded it, and always for mon.
/// </summary>
public sealed class MonitorDaemon : IAsyncDisposable
{
    private static readonly TimeSpan BarrierTimeout = TimeSpan.FromSeconds(5);

    private readonly MonitorConfig _config;
    private readonly MonitorStateMachine _machine;
    private readonly ILogger _log;
    private readonly Dictionary<IPEndPoint, (string Name, IPEndPoint Address)> _byRaftEndPoint;
    private readonly ConcurrentDictionary<Connection, Subscriber> _subscribers = new();
    private readonly CancellationTokenSource _stopping = new();
    private RaftNode _raft = null!;
    private Task _autoOut = Task.CompletedTask;
    /// <summary>Leader only: when each OSD's last beacon arrived (Environment.TickCount64).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, long> _beacons = new();
    private MessageServer _server = null!;
    private DataDirLock? _dataLock;

    private MonitorDaemon(MonitorConfig config, ILogger log)
    {
        _config = config;
        _log = log;
        _byRaftEndPoint = config.Monitors.ToDictionary(m => MonitorConfig.RaftEndPoint(m.Address));
        var map = ClusterMap.Create(config.Fsid, config.Monitors.Select(m => new MonitorInfo(m.Name, m.Address.ToString())));
        _machine = new MonitorStateMachine(MonitorState.Create(map));
        _machine.MapCommitted += OnMapCommitted;
    }

    public MonitorState State => _machine.State;

    public bool IsLeader => _raft.IsLeader;

    /// <summary>The leader's monitor name, or null during an election.</summary>
    public string? LeaderName => _raft.Leader is { } ep && _byRaftEndPoint.TryGetValue(ep, out var m) ? m.Name : null;

    public IPEndPoint EndPoint => _server.LocalEndPoint;

    public static async Task<MonitorDaemon> StartAsync(MonitorConfig config, ILoggerFactory? logs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        logs ??= NullLoggerFactory.Instance;
        var dataLock = DataDirLock.Acquire(config.DataDirectory, $"mon.{config.Name}");
        var daemon = new MonitorDaemon(config, logs.CreateLogger($"mon.{config.Name}")) { _dataLock = dataLock };
        var raftOptions = new RaftOptions
        {
            LocalEndPoint = MonitorConfig.RaftEndPoint(config.Address),
            Members = config.Monitors.Select(m => MonitorConfig.RaftEndPoint(m.Address)).ToArray(),
            DataDirectory = config.DataDirectory,
        };
        // Listen first so a client arriving during the election gets an answer (or a redirect), not a refusal.
        daemon._server = new MessageServer(config.Address, daemon.Lookup, daemon.HandleAsync);
        daemon._server.Start();
        try
        {
            daemon._raft = await RaftNode.StartAsync(raftOptions, daemon._machine, logs, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await daemon._server.DisposeAsync().ConfigureAwait(false);
            dataLock.Dispose();
            throw;
        }
        daemon._raft.LeaderChanged += daemon.OnLeaderChanged;
        daemon._autoOut = Task.Run(daemon.OsdWatchLoopAsync);
        daemon._log.LogInformation("mon.{Name} listening on {Address} (raft {Raft}), data {Data}, epoch {Epoch}",
            config.Name, config.Address, raftOptions.LocalEndPoint, config.DataDirectory, daemon.State.Map.Epoch);
        return daemon;
    }

    private KeyringEntry? Lookup(EntityName name)
    {
        var state = _machine.State;
        if (state.Auth.Find(name) is { } entry)
            return entry;
        // mon. is the monitors' own key; until seeding is done, the bootstrap keyring stands in for what is not copied yet
        // (an OSD of a new cluster may connect between two seeded entities).
        return name.Type == "mon" || Seeding(state) ? _config.Keyring.Find(name) : null;
    }

    private async ValueTask<ReadOnlyMemory<byte>> HandleAsync(Connection connection, Frame request, CancellationToken cancellationToken)
    {
        switch (request.Type)
        {
            case MonMessages.GetMap:
                Require(connection, CapOp.Read, "allow r");
                await BarrierAsync(cancellationToken).ConfigureAwait(false);
                return ClusterMapCodec.Encode(_machine.State.Map);
            case MonMessages.Leader:
                Require(connection, CapOp.Read, "allow r");
                return Encoding.UTF8.GetBytes(LeaderName ?? "");
            case MonMessages.Command:
                // OSDs (mon 'profile osd' = rx) may announce themselves and report failed peers; a client that may write a
                // pool (osd 'profile rbd pool=x') may manage its self-managed snapshots; everything else needs rw.
                var command = MonCommandCodec.Decode(request.Payload.Span);
                var caps = connection.Session.Caps;
                if (command is OsdBeacon beacon)
                    return Beacon(connection, beacon).Encode();
                bool allowed = command switch
                {
                    OsdBoot or OsdMarkDown or PgActivations => caps.Allows("mon", CapOp.Read | CapOp.Execute),
                    PgActivate a => caps.Allows("mon", CapOp.Read | CapOp.Execute) && connection.Session.Entity.ToString() == $"osd.{a.Osd}",
                    SnapCreate s => caps.Allows("mon", CapOp.Read) && caps.Allows("osd", CapOp.Write, s.Pool),
                    SnapRemove s => caps.Allows("mon", CapOp.Read) && caps.Allows("osd", CapOp.Write, s.Pool),
                    SnapPublish s => caps.Allows("mon", CapOp.Read) && caps.Allows("osd", CapOp.Write, s.Pool),
                    _ => false,
                };
                if (!allowed)
                    Require(connection, CapOp.Read | CapOp.Write, "allow rw");
                return (await ExecuteAsync(request.Payload, cancellationToken).ConfigureAwait(false)).Encode();
            case MonMessages.Subscribe:
                Require(connection, CapOp.Read, "allow r");
                Subscribe(connection, MonMessages.DecodeEpoch(request.Payload.Span));
                return ReadOnlyMemory<byte>.Empty;
            case MonMessages.AuthList:
                // OSDs verify their clients against it (profile osd); plain readers may not see keys.
                Require(connection, CapOp.Read | CapOp.Execute, "allow rx");
                await BarrierAsync(cancellationToken).ConfigureAwait(false);
                return Encoding.UTF8.GetBytes(_machine.State.Auth.Format());
            default:
                throw new InvalidDataException($"Error EINVAL: unknown monitor message type 0x{request.Type:x4}");
        }
    }

    private static void Require(Connection connection, CapOp op, string needed)
    {
        var session = connection.Session;
        if (!session.Caps.Allows("mon", op))
        {
            string has = session.Caps["mon"]?.Text is { } text ? $"mon '{text}'" : "no mon caps";
            throw new UnauthorizedAccessException($"Error EACCES: access denied: {session.Entity} has {has}, needs mon '{needed}'");
        }
    }

    private async Task BarrierAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(BarrierTimeout);
        try
        {
            await _raft.ReadBarrierAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Error EAGAIN: mon.{_config.Name} has no quorum (election in progress?)");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // DotNext fails the barrier outright when the leader it knew is gone: retryable, here or elsewhere.
            throw new TimeoutException($"Error EAGAIN: mon.{_config.Name} cannot confirm it is up to date: {e.Message}");
        }
    }

    private async Task<CommandReply> ExecuteAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var command = MonCommandCodec.Decode(payload.Span); // refuse garbage before it reaches the log
        if (!_raft.IsLeader)
            return CommandReply.RedirectTo(AddressOf(_raft.Leader));
        long index;
        try
        {
            index = await _raft.ProposeAsync(payload, cancellationToken).ConfigureAwait(false);
        }
        catch (NotLeaderException e)
        {
            return CommandReply.RedirectTo(AddressOf(e.Leader));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Lost quorum mid-replication: the command may still commit under the next leader.
            throw new TimeoutException($"Error EAGAIN: mon.{_config.Name} could not commit the command: {e.Message}");
        }
        var result = _machine.ResultOf(index) ?? MonResult.Error("EIO", $"mon.{_config.Name}: result of entry {index} is gone");
        // Peering's records come in bursts after every failure: not worth a line each.
        _log.Log(command is PgActivate or PgActivations ? LogLevel.Debug : LogLevel.Information, "{Command} -> {Message}", command.GetType().Name, result.Message);
        return CommandReply.Of(result);
    }

    /// <summary>The leader notes the time; a follower sends the OSD to the leader.</summary>
    private CommandReply Beacon(Connection connection, OsdBeacon beacon)
    {
        if (connection.Session.Entity.ToString() != $"osd.{beacon.Id}")
            throw new UnauthorizedAccessException($"Error EACCES: {connection.Session.Entity} cannot send a beacon for osd.{beacon.Id}");
        if (!_raft.IsLeader)
            return CommandReply.RedirectTo(AddressOf(_raft.Leader));
        _beacons[beacon.Id] = Environment.TickCount64;
        return CommandReply.Of(MonResult.Ok(""));
    }

    private string? AddressOf(IPEndPoint? raft) =>
        raft is not null && _byRaftEndPoint.TryGetValue(raft, out var m) ? m.Address.ToString() : null;

    private void OnLeaderChanged(IPEndPoint? leader)
    {
        string name = leader is not null && _byRaftEndPoint.TryGetValue(leader, out var m) ? $"mon.{m.Name}" : "none (election)";
        _log.LogInformation("mon.{Name}: leader is {Leader} (term {Term})", _config.Name, name, _raft.Term);
        if (leader is not null && leader.Equals(_raft.Options.LocalEndPoint))
            _ = Task.Run(SeedAuthAsync);
    }

    /// <summary>While the auth database has had fewer changes than the bootstrap keyring has entities, it is being seeded.</summary>
    private bool Seeding(MonitorState state) => state.AuthVersion < _config.Keyring.Entries.Count();

    /// <summary>
    /// The first leader of a new cluster copies the bootstrap keyring into the replicated auth database, one entity
    /// at a time; a leader elected midway copies the rest. Only while seeding: once the database has had as many
    /// changes as the keyring has entities, later leaders must not resurrect entities an administrator removed.
    /// </summary>
    private async Task SeedAuthAsync()
    {
        try
        {
            await BarrierAsync(_stopping.Token).ConfigureAwait(false);
            foreach (var entry in _config.Keyring.Entries)
            {
                if (!Seeding(_machine.State))
                    return;
                if (_machine.State.Auth.Find(entry.Name) is not null)
                    continue;
                var caps = entry.Caps.All.ToDictionary(c => c.Service, c => c.Text);
                var command = new AuthAdd(entry.Name.ToString(), entry.KeyBase64, caps);
                long index = await _raft.ProposeAsync(MonCommandCodec.Encode(command), _stopping.Token).ConfigureAwait(false);
                _log.LogInformation("seeded auth: {Entity}: {Result}", entry.Name, _machine.ResultOf(index)?.Message);
            }
        }
        catch (Exception e) when (e is NotLeaderException or OperationCanceledException or TimeoutException or ObjectDisposedException)
        {
            _log.LogInformation("auth seeding left to the next leader: {Reason}", e.Message);
        }
    }

    /// <summary>
    /// The leader marks down up OSDs whose beacons stopped for mon_osd_report_timeout (a new leader first gives every OSD
    /// the whole timeout), and marks out OSDs that stayed down for mon_osd_down_out_interval, so their PGs re-replicate elsewhere.
    /// </summary>
    private async Task OsdWatchLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(2));
        long leaderSince = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                var map = _machine.State.Map;
                var now = DateTimeOffset.UtcNow;
                if (!_raft.IsLeader)
                {
                    leaderSince = 0;
                    continue;
                }
                if (leaderSince == 0)
                    leaderSince = Environment.TickCount64;
                await MarkSilentOsdsDownAsync(map, now, leaderSince).ConfigureAwait(false);
                var interval = map.Options.MonOsdDownOutInterval;
                if (!_raft.IsLeader || interval <= TimeSpan.Zero
                    || !map.Osds.Values.Any(o => !o.Up && o.In && o.DownSince is { } since && now - since >= interval))
                    continue;
                try
                {
                    long index = await _raft.ProposeAsync(MonCommandCodec.Encode(new AutoOut(now)), _stopping.Token).ConfigureAwait(false);
                    _log.LogInformation("auto-out: {Result}", _machine.ResultOf(index)?.Message);
                }
                catch (Exception e) when (e is NotLeaderException or TimeoutException)
                {
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task MarkSilentOsdsDownAsync(ClusterMap map, DateTimeOffset now, long leaderSince)
    {
        long timeout = (long)map.Options.MonOsdReportTimeout.TotalMilliseconds, tick = Environment.TickCount64;
        if (timeout <= 0)
            return;
        foreach (var osd in map.Osds.Values.Where(o => o.Up))
        {
            long last = Math.Max(leaderSince, _beacons.GetValueOrDefault(osd.Id));
            if (tick - last < timeout)
                continue;
            try
            {
                var command = new OsdMarkDown(osd.Id, $"no beacon for {(tick - last) / 1000} s", now, osd.UpFrom);
                long index = await _raft.ProposeAsync(MonCommandCodec.Encode(command), _stopping.Token).ConfigureAwait(false);
                _log.LogWarning("osd.{Id}: {Result}", osd.Id, _machine.ResultOf(index)?.Message);
            }
            catch (Exception e) when (e is NotLeaderException or TimeoutException)
            {
                return;
            }
        }
    }

    // ---- subscriptions -------------------------------------------------------------------------

    /// <summary>A subscribed connection and the newest epoch it has been sent.</summary>
    private sealed class Subscriber(Connection connection, long epoch)
    {
        public Connection Connection { get; } = connection;
        public long Epoch { get; set; } = epoch;
        public SemaphoreSlim Sending { get; } = new(1, 1);
    }

    private void Subscribe(Connection connection, long epoch)
    {
        var subscriber = new Subscriber(connection, epoch);
        if (!_subscribers.TryAdd(connection, subscriber))
            return;
        _ = connection.Completion.ContinueWith(_ => _subscribers.TryRemove(connection, out var _), TaskScheduler.Default);
        _ = Task.Run(() => PushAsync(subscriber));
    }

    private void OnMapCommitted(ClusterMap map)
    {
        foreach (var subscriber in _subscribers.Values)
            _ = Task.Run(() => PushAsync(subscriber));
    }

    /// <summary>Sends the current map if it is newer than what the subscriber has. One push at a time per
    /// subscriber, always the latest map: a burst of commits may reach it as fewer, newer maps.</summary>
    private async Task PushAsync(Subscriber subscriber)
    {
        await subscriber.Sending.WaitAsync().ConfigureAwait(false);
        try
        {
            var map = _machine.State.Map;
            if (map.Epoch <= subscriber.Epoch)
                return;
            await subscriber.Connection.RequestAsync(MonMessages.MapPush, ClusterMapCodec.Encode(map)).ConfigureAwait(false);
            subscriber.Epoch = map.Epoch;
        }
        catch (Exception e) when (e is ConnectionClosedException or TimeoutException or RemoteRequestException or IOException)
        {
            _subscribers.TryRemove(subscriber.Connection, out _);
        }
        finally
        {
            subscriber.Sending.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
            return;
        _stopping.Cancel();
        _raft.LeaderChanged -= OnLeaderChanged;
        await _autoOut.ConfigureAwait(false);
        await _server.DisposeAsync().ConfigureAwait(false);
        await _raft.DisposeAsync().ConfigureAwait(false);
        _dataLock?.Dispose();
        _stopping.Dispose();
    }
}
