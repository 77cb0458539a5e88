using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;
using Rampart.Rados.Auth;
using Rampart.Rados.Client;
using Rampart.Rados.Maps;
using Rampart.Rados.Messaging;
using Rampart.Rados.Mon;

namespace Rampart.Rados.Osd;

/// <summary>A peer OSD could not take a request: down in the map, refused, reset, or silent.</summary>
public sealed class PeerUnavailableException(int osd, string reason) : Exception($"osd.{osd} unavailable: {reason}")
{
    public int Osd { get; } = osd;
}

public sealed partial class OsdDaemon
{
    private readonly PeerLinks _peers;
    private readonly ConcurrentDictionary<int, long> _reported = new();

    /// <summary>
    /// Tells the monitors a peer failed. A closed connection or refused connect is evidence at once (the process is
    /// gone); silence counts after osd_heartbeat_grace. One report per incarnation of the peer (its up_from).
    /// </summary>
    private void ReportFailure(int osd, string reason)
    {
        if (_stopping.IsCancellationRequested || _map?.FindOsd(osd) is not { Up: true } info)
            return;
        if (_reported.TryGetValue(osd, out long upFrom) && upFrom == info.UpFrom)
            return;
        _reported[osd] = info.UpFrom;
        _log.LogWarning("reporting osd.{Osd} failed: {Reason}", osd, reason);
        _ = Task.Run(async () =>
        {
            try
            {
                var result = await _mon.CommandAsync(new OsdMarkDown(osd, $"reported by osd.{_config.Id}: {reason}", DateTimeOffset.UtcNow, info.UpFrom), _stopping.Token).ConfigureAwait(false);
                _log.LogInformation("{Message}", result.Message);
            }
            catch (Exception e) when (e is MonClientException or OperationCanceledException)
            {
                _reported.TryRemove(osd, out _);
            }
        });
    }

    private async Task HeartbeatLoopAsync()
    {
        var lastReply = new ConcurrentDictionary<int, long>();
        var inFlight = new ConcurrentDictionary<int, byte>();
        using var timer = new PeriodicTimer(_config.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                if (_map is not { } map)
                    continue;
                long now = Environment.TickCount64;
                foreach (var osd in map.Osds.Values)
                {
                    if (!osd.Up || osd.Id == _config.Id)
                    {
                        lastReply.TryRemove(osd.Id, out _);
                        continue;
                    }
                    long last = lastReply.GetOrAdd(osd.Id, now);
                    if (now - last > _config.HeartbeatGrace.TotalMilliseconds)
                        ReportFailure(osd.Id, $"no heartbeat reply for {(now - last) / 1000.0:0.0} s");
                    if (!inFlight.TryAdd(osd.Id, 0))
                        continue;
                    int id = osd.Id;
                    _ = Task.Run(async () =>
                    {
                        try
                        {
                            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                            timeout.CancelAfter(_config.HeartbeatGrace);
                            await _peers.RequestAsync(id, OsdMessages.Ping, MonMessages.EncodeEpoch(map.Epoch), timeout.Token).ConfigureAwait(false);
                            lastReply[id] = Environment.TickCount64;
                        }
                        catch (Exception e) when (e is PeerUnavailableException or OperationCanceledException or RemoteRequestException)
                        {
                        }
                        finally
                        {
                            inFlight.TryRemove(id, out _);
                        }
                    });
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Outgoing connections to peer OSDs, one per peer, reconnected on demand; a broken one is reported.</summary>
    private sealed class PeerLinks(OsdDaemon daemon) : IAsyncDisposable
    {
        private static readonly ConnectionOptions Options = new()
        {
            ConnectTimeout = TimeSpan.FromSeconds(2),
            HandshakeTimeout = TimeSpan.FromSeconds(5),
            RequestTimeout = TimeSpan.FromSeconds(30),
        };

        private sealed class Link
        {
            public required string Address { get; init; }
            public required long UpFrom { get; init; }
            public required Task<Connection> Connecting { get; init; }
        }

        private readonly ConcurrentDictionary<int, Link> _links = new();
        private readonly Lock _lock = new();

        public async Task<Frame> RequestAsync(int osd, ushort type, ReadOnlyMemory<byte> payload, CancellationToken token)
        {
            var connection = await ConnectAsync(osd, token).ConfigureAwait(false);
            try
            {
                return await connection.RequestAsync(type, payload, token).ConfigureAwait(false);
            }
            catch (ConnectionClosedException e)
            {
                daemon.ReportFailure(osd, e.Message);
                throw new PeerUnavailableException(osd, e.Message);
            }
            catch (TimeoutException e)
            {
                daemon.ReportFailure(osd, e.Message);
                throw new PeerUnavailableException(osd, e.Message);
            }
        }

        private async Task<Connection> ConnectAsync(int osd, CancellationToken token)
        {
            if (daemon._map?.FindOsd(osd) is not { Up: true } info)
                throw new PeerUnavailableException(osd, "down in the map");
            Link link;
            lock (_lock)
            {
                if (!_links.TryGetValue(osd, out link!) || link.Address != info.Address || link.UpFrom != info.UpFrom
                    || (link.Connecting.IsCompleted && (!link.Connecting.IsCompletedSuccessfully || link.Connecting.Result.IsClosed)))
                {
                    var old = link;
                    link = new Link { Address = info.Address, UpFrom = info.UpFrom, Connecting = OpenAsync(osd, info) };
                    _links[osd] = link;
                    if (old is not null)
                        _ = old.Connecting.ContinueWith(t => t.Result.DisposeAsync(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
                }
            }
            return await link.Connecting.WaitAsync(token).ConfigureAwait(false);
        }

        private async Task<Connection> OpenAsync(int osd, OsdInfo info)
        {
            if (!IPEndPoint.TryParse(info.Address, out var endpoint))
                throw new PeerUnavailableException(osd, $"bad address '{info.Address}' in the map");
            Connection connection;
            try
            {
                connection = await Connection.ConnectAsync(endpoint, daemon._config.Entity, daemon._config.Key, Options, null, daemon._stopping.Token).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                daemon.ReportFailure(osd, $"connect to {endpoint}: {e.SocketErrorCode}");
                throw new PeerUnavailableException(osd, e.Message);
            }
            catch (Exception e) when (e is TimeoutException or IOException or AuthenticationException)
            {
                throw new PeerUnavailableException(osd, e.Message);
            }
            _ = connection.Completion.ContinueWith(reason =>
            {
                if (_links.TryGetValue(osd, out var current) && current.UpFrom == info.UpFrom && !daemon._stopping.IsCancellationRequested)
                    daemon.ReportFailure(osd, $"connection closed: {reason.Result}");
            }, TaskScheduler.Default);
            return connection;
        }

        /// <summary>Drops links to OSDs that are down or moved.</summary>
        public void Prune(ClusterMap map)
        {
            foreach (var (osd, link) in _links)
            {
                if (map.FindOsd(osd) is { Up: true } info && info.Address == link.Address && info.UpFrom == link.UpFrom)
                    continue;
                if (_links.TryRemove(new KeyValuePair<int, Link>(osd, link)))
                    _ = link.Connecting.ContinueWith(t => t.Result.DisposeAsync(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            }
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var link in _links.Values)
            {
                if (link.Connecting.IsCompletedSuccessfully)
                    await link.Connecting.Result.DisposeAsync().ConfigureAwait(false);
            }
            _links.Clear();
        }
    }

    /// <summary>Tells the monitor leader this OSD is alive, so it is marked down even when no peer is left to report it.</summary>
    private async Task BeaconLoopAsync()
    {
        if (_config.BeaconSeconds <= 0)
            return;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(_config.BeaconSeconds));
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                try { await _mon.CommandAsync(new Mon.OsdBeacon(_config.Id), _stopping.Token).ConfigureAwait(false); }
                catch (MonClientException e) { _log.LogDebug("beacon not delivered: {Reason}", e.Message); }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
