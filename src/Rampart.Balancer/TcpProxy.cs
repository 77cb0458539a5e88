using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Rampart.Balancer;

/// <summary>
/// An L4 TCP proxy: each accepted connection is piped to one backend, chosen by least connections.
/// The backend set is replaced atomically by its owner (a health checker, the SQL manager); connections to a
/// backend that leaves the set are closed, and while the set is empty new connections wait (up to
/// <c>hold</c>) for one to appear, so clients see a short pause instead of an error during a failover.
/// Once a pair is connected the kernel relays its bytes (<see cref="KernelRelay"/>) where it can; elsewhere, or
/// with <c>kernelRelay: false</c>, two async loops copy them. With <c>redirectLocal</c>, while there is exactly one
/// backend (nothing to balance), clients on this host connecting to the proxy's IPv4 address are sent straight to
/// it by the kernel at connect time (<see cref="ConnectRedirect"/>) and are aborted like pairs when it leaves the set.
/// </summary>
public sealed partial class TcpProxy : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly ILogger _logger;
    private readonly TimeSpan _hold;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Session, byte> _sessions = new();
    private readonly Lock _lock = new();
    private readonly Task _acceptLoop;
    private readonly KernelRelay? _relay;
    private readonly ConnectRedirect? _redirect;
    private readonly IPEndPoint _redirectFrom;
    private readonly ulong _netns;
    private IPEndPoint? _redirectTo;
    private IPEndPoint[] _backends = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _next;

    public TcpProxy(string name, IPEndPoint listen, TimeSpan hold, ILogger logger, bool kernelRelay = true, bool redirectLocal = false)
    {
        Name = name;
        _relay = kernelRelay ? KernelRelay.Shared : null;
        _hold = hold;
        _logger = logger;
        _listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Bind(listen);
        _listener.Listen(512);
        LocalEndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        // A wildcard listener is reached locally through loopback; other local addresses still go through the proxy.
        _redirectFrom = LocalEndPoint.Address.Equals(IPAddress.Any) ? new IPEndPoint(IPAddress.Loopback, LocalEndPoint.Port) : LocalEndPoint;
        if (redirectLocal && listen.AddressFamily == AddressFamily.InterNetwork && ConnectRedirect.Shared is { } redirect)
        {
            _redirect = redirect;
            _netns = ConnectRedirect.NetnsCookie(_listener);
        }
        _acceptLoop = AcceptLoopAsync();
    }

    public string Name { get; }
    public IPEndPoint LocalEndPoint { get; }
    public int ActiveConnections => _sessions.Count;
    /// <summary>Whether connected pairs are relayed by the kernel (BPF sockhash) rather than copied by this process.</summary>
    public bool KernelRelayed => _relay is not null;
    internal int KernelRelayedConnections => _sessions.Keys.Count(s => s.InKernel);
    /// <summary>Whether local clients' connects are redirected to the backend by the kernel (one IPv4 backend now).</summary>
    public bool RedirectsLocalClients { get { lock (_lock) return _redirectTo is not null; } }
    public IReadOnlyList<IPEndPoint> Backends { get { lock (_lock) return _backends; } }

    /// <summary>Active connections per backend.</summary>
    public IReadOnlyDictionary<IPEndPoint, int> Load() =>
        _sessions.Keys.Where(s => s.Backend is not null).GroupBy(s => s.Backend!).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>Replaces the backend set; connections to backends no longer in it are closed at once.</summary>
    public void SetBackends(IReadOnlyList<IPEndPoint> backends)
    {
        TaskCompletionSource changed;
        IPEndPoint[] removed;
        lock (_lock)
        {
            if (_backends.SequenceEqual(backends)) return;
            removed = [.. _backends.Except(backends)];
            _backends = [.. backends];
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        Log.BackendsChanged(_logger, Name, backends.Count == 0 ? "(none: holding new connections)" : string.Join(", ", backends));
        Redirect(backends);
        int closed = 0;
        foreach (var session in _sessions.Keys)
            if (session.Backend is { } b && !backends.Contains(b)) { session.Close(); closed++; }
        // Redirected while it was the only backend, perhaps several changes ago.
        foreach (var b in removed) closed += _redirect?.Abort(_redirectFrom, b) ?? 0;
        if (closed > 0) Log.ClosedSessions(_logger, Name, closed);
        changed.TrySetResult();
    }

    /// <summary>Points local connects at the single backend, or back at the proxy.</summary>
    private void Redirect(IReadOnlyList<IPEndPoint> backends)
    {
        if (_redirect is null) return;
        var to = backends is [{ AddressFamily: AddressFamily.InterNetwork } only] ? only : null;
        lock (_lock)
        {
            if (Equals(_redirectTo, to)) return;
            if (!_redirect.Route(_netns, _redirectFrom, to)) to = null;   // map full: the proxy serves them
            _redirectTo = to;
        }
        Log.LocalClients(_logger, Name, _redirectFrom, to?.ToString() ?? "the proxy");
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException) { return; }
            catch (SocketException e)
            {
                Log.AcceptFailed(_logger, Name, e.SocketErrorCode);
                continue;
            }
            client.NoDelay = true;
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        var session = new Session(client);
        _sessions[session] = 0;
        try
        {
            var deadline = DateTime.UtcNow + _hold;
            while (!_stop.IsCancellationRequested)
            {
                var backend = Choose(out var changed);
                if (backend is null)
                {
                    var left = deadline - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero) { Log.NoBackend(_logger, Name, _hold.TotalSeconds); return; }
                    await changed.WaitAsync(left, _stop.Token).ConfigureAwait(false);
                    continue;
                }
                session.Backend = backend;
                var server = new Socket(backend.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                session.Server = server;
                try
                {
                    if (_relay is not null)
                    {
                        // Blocking connect on its own thread, bounded by SO_SNDTIMEO: an async connect would register
                        // the socket with .NET's epoll (edge-triggered EPOLLIN), waking this process on every
                        // message the kernel relays.
                        await Task.Factory.StartNew(() =>
                        {
                            server.SendTimeout = 5000;
                            server.Connect(backend);
                            server.SendTimeout = 0;
                        }, _stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
                    }
                    else
                    {
                        using var connect = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                        connect.CancelAfter(TimeSpan.FromSeconds(5));
                        await server.ConnectAsync(backend, connect.Token).ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (e is SocketException or OperationCanceledException && !_stop.IsCancellationRequested)
                {
                    // A dead backend not yet replaced (failure detection under way): keep the client until its owner
                    // routes elsewhere or the hold time runs out, instead of failing it at once.
                    Log.ConnectFailed(_logger, Name, backend, e.Message);
                    session.Backend = null;
                    session.Server = null;
                    server.Dispose();
                    var left = deadline - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero) return;
                    await Task.WhenAny(changed, Task.Delay(TimeSpan.FromMilliseconds(50), _stop.Token)).ConfigureAwait(false);
                    continue;
                }
                // The backend may have been removed while we connected: honour the removal.
                if (!Backends.Contains(backend)) return;
                if (_relay?.TryJoin(client, server, out long id) is { } ended)
                {
                    session.Relayed(_relay, id);
                    await ended.ConfigureAwait(false);
                    return;
                }
                await Task.WhenAny(PumpAsync(client, server), PumpAsync(server, client)).ConfigureAwait(false);
                return;
            }
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException or ObjectDisposedException or SocketException) { }
        finally
        {
            _sessions.TryRemove(session, out _);
            session.Close();
        }
    }

    private IPEndPoint? Choose(out Task changed)
    {
        IPEndPoint[] backends;
        lock (_lock)
        {
            backends = _backends;
            changed = _changed.Task;
        }
        if (backends.Length == 0) return null;
        if (backends.Length == 1) return backends[0];
        // Least connections; ties rotate so an idle pool spreads new connections evenly.
        var load = Load();
        int start = Interlocked.Increment(ref _next);
        IPEndPoint? best = null;
        int bestLoad = int.MaxValue;
        for (int i = 0; i < backends.Length; i++)
        {
            var b = backends[(int)((uint)(start + i) % (uint)backends.Length)];
            int l = load.GetValueOrDefault(b);
            if (l < bestLoad) { best = b; bestLoad = l; }
        }
        return best;
    }

    private static async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            while (true)
            {
                int n = await from.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                if (n == 0) return;
                int sent = 0;
                while (sent < n) sent += await to.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Redirect([]);
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        foreach (var s in _sessions.Keys) s.Close();
        try { await _acceptLoop.ConfigureAwait(false); } catch (OperationCanceledException) { }
        _stop.Dispose();
    }

    private sealed class Session(Socket client)
    {
        private int _closed;
        private KernelRelay? _relay;
        private long _relayId;
        public volatile IPEndPoint? Backend;
        public volatile Socket? Server;
        public bool InKernel { get { lock (this) return _relay is not null; } }

        /// <summary>The kernel relays this pair now; closing must take it out of the relay first.</summary>
        public void Relayed(KernelRelay relay, long id)
        {
            lock (this) { _relay = relay; _relayId = id; }
            if (Volatile.Read(ref _closed) != 0) relay.Leave(id);   // closed meanwhile: the relay still holds it
        }

        public void Close()
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0) return;
            KernelRelay? relay;
            long id;
            lock (this) { relay = _relay; id = _relayId; }
            relay?.Leave(id);
            // Shutdown first so the pumps see the end at once; Dispose alone may leave a pending receive.
            foreach (var s in new[] { client, Server })
            {
                if (s is null) continue;
                try { s.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
                s.Dispose();
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 6001, Level = LogLevel.Information, Message = "proxy {Proxy}: backends {Backends}")]
        public static partial void BackendsChanged(ILogger logger, string proxy, string backends);

        [LoggerMessage(EventId = 6002, Level = LogLevel.Information, Message = "proxy {Proxy}: closed {Count} connection(s) to removed backends")]
        public static partial void ClosedSessions(ILogger logger, string proxy, int count);

        [LoggerMessage(EventId = 6003, Level = LogLevel.Warning, Message = "proxy {Proxy}: no backend within {Seconds} s; connection closed")]
        public static partial void NoBackend(ILogger logger, string proxy, double seconds);

        [LoggerMessage(EventId = 6004, Level = LogLevel.Debug, Message = "proxy {Proxy}: cannot connect to {Backend}: {Reason}")]
        public static partial void ConnectFailed(ILogger logger, string proxy, IPEndPoint backend, string reason);

        [LoggerMessage(EventId = 6005, Level = LogLevel.Warning, Message = "proxy {Proxy}: accept failed: {Error}")]
        public static partial void AcceptFailed(ILogger logger, string proxy, SocketError error);

        [LoggerMessage(EventId = 6006, Level = LogLevel.Information, Message = "proxy {Proxy}: local connects to {Endpoint} now go to {Target}")]
        public static partial void LocalClients(ILogger logger, string proxy, IPEndPoint endpoint, string target);
    }
}
