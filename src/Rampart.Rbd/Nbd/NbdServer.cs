using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Rampart.Rbd.Nbd;

/// <summary>Limits of one NBD server; the defaults suit a server of a few dozen clients.</summary>
public sealed record NbdServerConfig
{
    public static NbdServerConfig Default { get; } = new();

    /// <summary>Requests of one connection being served at once; the connection stops reading beyond this.</summary>
    public int MaxInFlightRequests { get; init; } = 32;

    /// <summary>READ/WRITE payload bytes of one connection held at once (one request may exceed it alone).</summary>
    public long MaxInFlightBytes { get; init; } = 64 << 20;

    /// <summary>A client that has not entered transmission by then is dropped, so idle sockets cannot pile up.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Serves the exports of an <see cref="IExportCatalog"/> over NBD (fixed newstyle, simple replies) to every client
/// that connects to a TCP or Unix-domain listener.
/// </summary>
/// <remarks>
/// Device ownership: each NBD_OPT_GO / NBD_OPT_EXPORT_NAME opens the export from the catalog for that connection and
/// disposes it once the connection ends and no request is running on it; NBD_OPT_INFO opens and disposes at once.
/// Exports are advertised with NBD_FLAG_CAN_MULTI_CONN, so devices opened for the same name must share their writes:
/// a flush on one must cover writes completed on another (true of a device that caches nothing of its own).
/// </remarks>
public sealed class NbdServer
{
    private readonly IExportCatalog _catalog;
    private readonly ILogger _logger;

    private readonly WarningGate _malformedWarnings = new(TimeSpan.FromSeconds(1), TimeProvider.System);
    private readonly WarningGate _deviceWarnings = new(TimeSpan.FromSeconds(1), TimeProvider.System);

    public NbdServer(IExportCatalog catalog, ILogger logger, NbdServerConfig? config = null)
    {
        _catalog = catalog;
        _logger = logger;
        Config = config ?? NbdServerConfig.Default;
        ArgumentOutOfRangeException.ThrowIfLessThan(Config.MaxInFlightRequests, 1, nameof(NbdServerConfig.MaxInFlightRequests));
        ArgumentOutOfRangeException.ThrowIfLessThan(Config.MaxInFlightBytes, 1, nameof(NbdServerConfig.MaxInFlightBytes));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Config.HandshakeTimeout, TimeSpan.Zero, nameof(NbdServerConfig.HandshakeTimeout));
    }

    public NbdServerConfig Config { get; }

    public NbdCounters Counters { get; } = new();

    /// <summary>
    /// Accepts connections on <paramref name="listener"/> (bound and listening) and serves each concurrently until
    /// <paramref name="cancellationToken"/> fires; then closes every connection and returns once they are gone.
    /// The caller owns the listener.
    /// </summary>
    public async Task ServeAsync(Socket listener, CancellationToken cancellationToken)
    {
        var connections = new HashSet<Task>();
        NbdLog.Listening(_logger, listener.LocalEndPoint?.ToString() ?? "?");
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                Socket client;
                try { client = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
                catch (ObjectDisposedException) { break; }
                catch (SocketException e)
                {
                    // Out of descriptors and the like: the listener itself is fine, so keep accepting after a pause.
                    NbdLog.AcceptFailed(_logger, e.Message);
                    try { await Task.Delay(100, cancellationToken).ConfigureAwait(false); } catch (OperationCanceledException) { break; }
                    continue;
                }
                var task = ServeConnectionAsync(client, cancellationToken);
                lock (connections) connections.Add(task);
                _ = task.ContinueWith(t => { lock (connections) connections.Remove(t); }, CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
        finally
        {
            Task[] remaining;
            lock (connections) remaining = [.. connections];
            await Task.WhenAll(remaining).ConfigureAwait(false);
        }
    }

    /// <summary>Serves one connected socket until the client leaves or the token fires; disposes the socket. Never throws.</summary>
    public async Task ServeConnectionAsync(Socket socket, CancellationToken cancellationToken)
    {
        // Leave the accept loop at once: the handshake and everything after run on the thread pool.
        await Task.Yield();
        NbdConnection connection;
        try
        {
            connection = new NbdConnection(socket, _catalog, _logger, Config, Counters, _malformedWarnings, _deviceWarnings);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            // Reset before we looked at it: nothing to serve.
            NbdLog.AcceptFailed(_logger, e.Message);
            socket.Dispose();
            return;
        }
        await connection.RunAsync(cancellationToken).ConfigureAwait(false);
    }
}
