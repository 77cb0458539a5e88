using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Rampart.Rados.Auth;

namespace Rampart.Rados.Messaging;

public sealed record ConnectionOptions
{
    public static ConnectionOptions Default { get; } = new();

    /// <summary>Largest payload accepted from the peer; a bigger frame closes the connection.</summary>
    public int MaxPayloadLength { get; init; } = Frame.DefaultMaxPayloadLength;

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time for the whole handshake, either side.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time a <see cref="Connection.RequestAsync"/> waits for its response.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Request types answered on the receive loop itself, up to the handler's first wait, instead of on the
    /// thread pool: one thread switch less per message. Only for handlers that never block.</summary>
    public Func<ushort, bool>? AnswerInline { get; init; }
}

/// <summary>Answers one request; the returned bytes are the response payload. An exception becomes an error response.</summary>
public delegate ValueTask<ReadOnlyMemory<byte>> RequestHandler(Connection connection, Frame request, CancellationToken cancellationToken);

/// <summary>The peer answered with an error frame.</summary>
public sealed class RemoteRequestException(string message) : Exception(message);

/// <summary>The connection closed (peer went away, malformed frame, disposal) before the response came.</summary>
public sealed class ConnectionClosedException(string message) : IOException(message);

/// <summary>
/// One authenticated TCP connection. It starts with the handshake (<see cref="ClientHandshake"/> /
/// <see cref="ServerHandshake"/>, frames of tid 0), then carries requests and responses matched by tid,
/// in both directions: either side may call <see cref="RequestAsync"/>, and requests arriving are answered
/// by the handler, each on the thread pool so a slow one never stalls the receive loop.
/// A malformed frame closes this connection only; <see cref="Completion"/> then ends with the reason.
/// </summary>
public sealed class Connection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly PipeReader _reader;
    private readonly PipeWriter _writer;
    private readonly FrameReader _frames;
    private readonly ConnectionOptions _options;
    private readonly RequestHandler? _handler;
    private readonly Action<FrameError>? _onFrameError;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<Frame>> _pending = new();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly TaskCompletionSource<string> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _nextTid;
    private AuthSession? _session;

    private Connection(Socket socket, ConnectionOptions options, RequestHandler? handler, Action<FrameError>? onFrameError)
    {
        _socket = socket;
        _socket.NoDelay = true;
        var stream = new NetworkStream(socket, ownsSocket: true);
        // 64 KiB segments: a 4 MiB object is 64 reads, not the default 4 KiB reads' thousand.
        _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024));
        _writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024));
        _frames = new FrameReader(options.MaxPayloadLength);
        _options = options;
        _handler = handler;
        _onFrameError = onFrameError;
        RemoteEndPoint = socket.RemoteEndPoint;
    }

    /// <summary>Who the peer is; on the server side it carries the client's caps.</summary>
    public AuthSession Session => _session ?? throw new InvalidOperationException("not authenticated yet");

    public EndPoint? RemoteEndPoint { get; }

    /// <summary>Completes with the close reason when the connection closes, for whatever cause.</summary>
    public Task<string> Completion => _closed.Task;

    public bool IsClosed => _closed.Task.IsCompleted;

    /// <summary>Connects, authenticates as <paramref name="entity"/> and starts receiving.</summary>
    /// <exception cref="AuthenticationException">The server rejected us or could not prove it knows the key.</exception>
    /// <exception cref="TimeoutException">Connecting or the handshake took too long.</exception>
    public static async Task<Connection> ConnectAsync(
        EndPoint endpoint, EntityName entity, byte[] key, ConnectionOptions? options = null,
        RequestHandler? handler = null, CancellationToken cancellationToken = default)
    {
        options ??= ConnectionOptions.Default;
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connectTimeout.CancelAfter(options.ConnectTimeout);
                try
                {
                    await socket.ConnectAsync(endpoint, connectTimeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"connect to {endpoint} did not finish within {options.ConnectTimeout.TotalSeconds:0.###} s");
                }
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var connection = new Connection(socket, options, handler, null);
        try
        {
            var handshake = new ClientHandshake(entity, key);
            await connection.HandshakeAsync(handshake.Start(), handshake.Receive, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return connection;
    }

    /// <summary>Server side of a freshly accepted socket: runs the handshake, then starts receiving.</summary>
    internal static async Task<Connection> AcceptAsync(
        Socket socket, Func<EntityName, KeyringEntry?> lookup, ulong sessionId, ConnectionOptions options,
        RequestHandler handler, Action<FrameError>? onFrameError, CancellationToken cancellationToken)
    {
        var connection = new Connection(socket, options, handler, onFrameError);
        try
        {
            var handshake = new ServerHandshake(lookup, sessionId);
            await connection.HandshakeAsync(null, handshake.Receive, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return connection;
    }

    /// <summary>Sends a request and waits for the response with the same tid.</summary>
    /// <exception cref="TimeoutException">No response within <see cref="ConnectionOptions.RequestTimeout"/>.</exception>
    /// <exception cref="RemoteRequestException">The peer's handler failed.</exception>
    /// <exception cref="ConnectionClosedException">The connection closed first.</exception>
    public async Task<Frame> RequestAsync(ushort type, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        if (AuthMessageTypes.IsAuth(type))
            throw new ArgumentOutOfRangeException(nameof(type), $"type 0x{type:x4} is reserved for the handshake");
        ulong tid = (ulong)Interlocked.Increment(ref _nextTid);
        var response = new TaskCompletionSource<Frame>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[tid] = response;
        if (IsClosed)
            response.TrySetException(new ConnectionClosedException($"connection to {RemoteEndPoint} closed: {_closed.Task.Result}"));
        try
        {
            await SendAsync(type, tid, payload, FrameFlags.None, cancellationToken).ConfigureAwait(false);
            Frame frame = await response.Task.WaitAsync(_options.RequestTimeout, cancellationToken).ConfigureAwait(false);
            return frame.IsError ? throw new RemoteRequestException(Encoding.UTF8.GetString(frame.Payload.Span)) : frame;
        }
        catch (TimeoutException)
        {
            throw new TimeoutException(
                $"request type 0x{type:x4} tid {tid} to {RemoteEndPoint}: no response within {_options.RequestTimeout.TotalSeconds:0.###} s");
        }
        finally
        {
            _pending.TryRemove(tid, out _);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Close("closed locally");
        await _closed.Task.ConfigureAwait(false);
    }

    private async Task HandshakeAsync(AuthMessage? first, Func<AuthMessage, HandshakeStep> receive, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.HandshakeTimeout);
        try
        {
            if (first is not null)
                await SendAuthAsync(first, timeout.Token).ConfigureAwait(false);
            while (true)
            {
                Frame frame = await ReadHandshakeFrameAsync(timeout.Token).ConfigureAwait(false);
                if (!AuthCodec.TryDecode(frame.Type, frame.Payload.Span, out var message, out string? error))
                    throw new AuthenticationException($"handshake with {RemoteEndPoint}: {error}");
                // On the thread pool: a server's key lookup may block asking the monitors, and this continuation
                // can be running on the socket thread that must deliver their answer.
                HandshakeStep step = await Task.Run(() => receive(message), CancellationToken.None).ConfigureAwait(false);
                if (step.Send is not null)
                    await SendAuthAsync(step.Send, timeout.Token).ConfigureAwait(false);
                if (step.Failed)
                    throw new AuthenticationException($"handshake with {RemoteEndPoint}: {step.Failure}");
                if (step.Session is not null)
                {
                    _session = step.Session;
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"handshake with {RemoteEndPoint} did not finish within {_options.HandshakeTimeout.TotalSeconds:0.###} s");
        }
        _ = Task.Run(ReceiveLoopAsync, CancellationToken.None);
    }

    private ValueTask SendAuthAsync(AuthMessage message, CancellationToken cancellationToken) =>
        SendAsync(AuthCodec.TypeOf(message), 0, AuthCodec.Encode(message), FrameFlags.None, cancellationToken);

    private async Task<Frame> ReadHandshakeFrameAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (_frames.TryRead(ref buffer, out var frame, out var error))
            {
                _reader.AdvanceTo(buffer.Start);
                if (!AuthMessageTypes.IsAuth(frame.Type))
                    throw new AuthenticationException($"handshake with {RemoteEndPoint}: frame type 0x{frame.Type:x4} before authentication");
                return frame;
            }
            _reader.AdvanceTo(buffer.Start, buffer.End);
            if (error is { } e)
            {
                _onFrameError?.Invoke(e);
                throw new InvalidDataException($"handshake with {RemoteEndPoint}: malformed frame ({e})");
            }
            if (result.IsCompleted)
                throw new ConnectionClosedException($"{RemoteEndPoint} closed the connection during the handshake");
        }
    }

    private async Task ReceiveLoopAsync()
    {
        string reason = "peer closed the connection";
        try
        {
            while (true)
            {
                ReadResult result = await _reader.ReadAsync(_lifetime.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                FrameError? error;
                while (_frames.TryRead(ref buffer, out var frame, out error))
                    Dispatch(frame);
                _reader.AdvanceTo(buffer.Start, buffer.End);
                if (error is { } e)
                {
                    _onFrameError?.Invoke(e);
                    reason = $"malformed frame from peer ({e})";
                    break;
                }
                if (result.IsCompleted || result.IsCanceled)
                    break;
            }
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
            reason = "closed locally";
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidDataException)
        {
            reason = _lifetime.IsCancellationRequested ? "closed locally" : e.Message;
        }
        await _reader.CompleteAsync().ConfigureAwait(false);
        Close(reason);
    }

    private void Dispatch(Frame frame)
    {
        if (AuthMessageTypes.IsAuth(frame.Type))
            throw new InvalidDataException($"handshake frame type 0x{frame.Type:x4} after authentication");
        if (frame.IsResponse)
        {
            // A response nobody waits for any more (timed out, cancelled) is dropped.
            if (_pending.TryRemove(frame.Tid, out var waiter))
                waiter.TrySetResult(frame);
            return;
        }
        if (_options.AnswerInline?.Invoke(frame.Type) == true)
            _ = AnswerAsync(frame);
        else
            _ = Task.Run(() => AnswerAsync(frame));
    }

    private async Task AnswerAsync(Frame request)
    {
        ReadOnlyMemory<byte> payload;
        FrameFlags flags = FrameFlags.Response;
        try
        {
            payload = _handler is null
                ? throw new InvalidOperationException("this side of the connection serves no requests")
                : await _handler(this, request, _lifetime.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            payload = Encoding.UTF8.GetBytes(e.Message);
            flags |= FrameFlags.Error;
        }
        try
        {
            await SendAsync(request.Type, request.Tid, payload, flags, _lifetime.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The connection is closing; the requester learns that from the close.
        }
    }

    private async ValueTask SendAsync(ushort type, ulong tid, ReadOnlyMemory<byte> payload, FrameFlags flags, CancellationToken cancellationToken)
    {
        if (payload.Length > _options.MaxPayloadLength)
            throw new ArgumentException($"payload of {payload.Length} bytes exceeds the {_options.MaxPayloadLength}-byte cap", nameof(payload));
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (IsClosed)
                throw new ConnectionClosedException($"connection to {RemoteEndPoint} closed: {_closed.Task.Result}");
            FrameWriter.Write(_writer, type, tid, payload.Span, flags);
            FlushResult flushed = await _writer.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (flushed.IsCompleted)
                throw new ConnectionClosedException($"connection to {RemoteEndPoint} closed");
        }
        catch (Exception e) when (e is (IOException or SocketException) and not ConnectionClosedException)
        {
            Close($"send failed: {e.Message}");
            throw new ConnectionClosedException($"connection to {RemoteEndPoint}: send failed: {e.Message}");
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Closes once: stops receiving, fails every waiting request with the reason.</summary>
    private void Close(string reason)
    {
        if (!_closed.TrySetResult(reason))
            return;
        _lifetime.Cancel();
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        _socket.Dispose();
        var closed = new ConnectionClosedException($"connection to {RemoteEndPoint} closed: {reason}");
        foreach (var tid in _pending.Keys)
        {
            if (_pending.TryRemove(tid, out var waiter))
                waiter.TrySetException(closed);
        }
    }
}
