using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Rampart.Rados.Auth;

namespace Rampart.Rados.Messaging;

/// <summary>
/// Accepts TCP connections, authenticates each against the keyring (or any entity lookup), then
/// answers its requests with the handler. A client that sends garbage or fails the handshake loses
/// its own connection and is counted; everyone else is unaffected.
/// </summary>
public sealed class MessageServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<EntityName, KeyringEntry?> _lookup;
    private readonly RequestHandler _handler;
    private readonly ConnectionOptions _options;
    private readonly ConcurrentDictionary<Connection, byte> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private Task _acceptLoop = Task.CompletedTask;
    private long _nextSessionId;
    private long _frameErrors;
    private long _authFailures;
    private long _accepted;

    public MessageServer(IPEndPoint endpoint, Keyring keyring, RequestHandler handler, ConnectionOptions? options = null)
        : this(endpoint, keyring.Find, handler, options)
    {
    }

    public MessageServer(IPEndPoint endpoint, Func<EntityName, KeyringEntry?> lookup, RequestHandler handler, ConnectionOptions? options = null)
    {
        _lookup = lookup;
        _handler = handler;
        _options = options ?? ConnectionOptions.Default;
        _listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Bind(endpoint);
        LocalEndPoint = (IPEndPoint)_listener.LocalEndPoint!;
    }

    /// <summary>The bound address (the real port when bound to port 0).</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Malformed frames received (each closed its connection).</summary>
    public long FrameErrors => Interlocked.Read(ref _frameErrors);

    /// <summary>Handshakes that failed: rejected, malformed, timed out.</summary>
    public long AuthFailures => Interlocked.Read(ref _authFailures);

    public long ConnectionsAccepted => Interlocked.Read(ref _accepted);

    /// <summary>Authenticated connections currently open.</summary>
    public int ActiveConnections => _connections.Count;

    public void Start()
    {
        _listener.Listen(512);
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        foreach (var connection in _connections.Keys)
            await connection.DisposeAsync().ConfigureAwait(false);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // e.g. the peer reset before we accepted
            }
            Interlocked.Increment(ref _accepted);
            _ = Task.Run(() => ServeAsync(socket));
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        Connection connection;
        try
        {
            ulong sessionId = (ulong)Interlocked.Increment(ref _nextSessionId);
            connection = await Connection.AcceptAsync(
                socket, _lookup, sessionId, _options, _handler,
                _ => Interlocked.Increment(ref _frameErrors), _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            Interlocked.Increment(ref _authFailures);
            return;
        }
        _connections[connection] = 0;
        await connection.Completion.ConfigureAwait(false);
        _connections.TryRemove(connection, out _);
    }
}
