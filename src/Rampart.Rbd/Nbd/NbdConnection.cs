using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Rampart.Rbd.Nbd;

/// <summary>
/// One client: the handshake (<c>NbdConnection.Handshake.cs</c>), then transmission (<c>NbdConnection.Transmission.cs</c>).
/// Reads go through a <see cref="PipeReader"/> (buffered, so a 28-byte header is not a syscall); replies are written
/// to the stream one at a time under <see cref="_writeLock"/>.
/// </summary>
internal sealed partial class NbdConnection
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _reader;
    private readonly IExportCatalog _catalog;
    private readonly ILogger _logger;
    private readonly NbdServerConfig _config;
    private readonly NbdCounters _counters;
    private readonly string _remote;
    private static long _unixPeers;

    /// <summary>The client asked for structured replies: READ and BLOCK_STATUS are answered with chunks.</summary>
    private bool _structured;

    /// <summary>The client selected "base:allocation": BLOCK_STATUS is allowed.</summary>
    private bool _allocationContext;

    private readonly WarningGate _malformedWarnings;
    private readonly WarningGate _deviceWarnings;

    public NbdConnection(Socket socket, IExportCatalog catalog, ILogger logger, NbdServerConfig config, NbdCounters counters,
        WarningGate malformedWarnings, WarningGate deviceWarnings)
    {
        _malformedWarnings = malformedWarnings;
        _deviceWarnings = deviceWarnings;
        _socket = socket;
        // Replies are small and latency-bound; Nagle would hold them back behind the previous one's ACK.
        if (socket.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6) socket.NoDelay = true;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 64 << 10, leaveOpen: true));
        _catalog = catalog;
        _logger = logger;
        _config = config;
        _counters = counters;
        // Unix-socket peers are unnamed: a sequence number tells their log lines apart.
        _remote = socket.RemoteEndPoint is System.Net.IPEndPoint ip ? ip.ToString() : $"unix#{Interlocked.Increment(ref _unixPeers)}";
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _counters.Connection();
        NbdLog.Opened(_logger, _remote);
        string reason = "closed";
        try
        {
            var export = await HandshakeAsync(cancellationToken).ConfigureAwait(false);
            if (export is { } opened)
            {
                await using (opened.Device.ConfigureAwait(false))
                    reason = await TransmitAsync(opened.Name, opened.Device, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            reason = "server stopping";
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            reason = e.Message;
        }
        catch (Exception e)
        {
            // A bug in the server or a catalog: this connection ends, the server carries on.
            NbdLog.Unexpected(_logger, e, _remote);
            reason = e.Message;
        }
        finally
        {
            await _reader.CompleteAsync().ConfigureAwait(false);
            await _stream.DisposeAsync().ConfigureAwait(false);
            _socket.Dispose();
        }
        NbdLog.Closed(_logger, _remote, reason);
    }

    private void Malformed(NbdMalformed reason, string what)
    {
        _counters.MalformedInput(reason);
        if (_malformedWarnings.TryPass()) NbdLog.Malformed(_logger, _remote, what, reason);
        else NbdLog.MalformedAgain(_logger, _remote, what, reason);
    }

    /// <summary>Fills <paramref name="destination"/> from the socket; false when the client closed first.</summary>
    private async ValueTask<bool> ReadExactlyAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        int filled = 0;
        while (filled < destination.Length)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            int n = (int)Math.Min(buffer.Length, destination.Length - filled);
            buffer.Slice(0, n).CopyTo(destination.Span[filled..]);
            filled += n;
            _reader.AdvanceTo(buffer.GetPosition(n));
            if (filled < destination.Length && result.IsCompleted) return false;
        }
        return true;
    }

    /// <summary>Reads and drops <paramref name="length"/> bytes (a refused WRITE's payload); false when the client closed first.</summary>
    private async ValueTask<bool> SkipAsync(long length, CancellationToken cancellationToken)
    {
        while (length > 0)
        {
            var result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            long n = Math.Min(buffer.Length, length);
            length -= n;
            _reader.AdvanceTo(buffer.GetPosition(n));
            if (length > 0 && result.IsCompleted) return false;
        }
        return true;
    }
}
