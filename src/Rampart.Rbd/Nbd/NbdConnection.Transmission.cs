using System.Buffers;
using System.Net.Sockets;

namespace Rampart.Rbd.Nbd;

// Transmission (proto.md "Transmission", "Request types", "Error values"): one reader loop parses requests and
// starts each on the thread pool; replies go out in completion order, one write at a time.
internal sealed partial class NbdConnection
{
    /// <summary>A refused WRITE's payload up to this size is read and dropped so the connection carries on; beyond it the client is not sane.</summary>
    private const long MaxSkippedPayload = 4L * NbdLimits.MaxPayload;

    private const string Disconnected = "client sent NBD_CMD_DISC";

    /// <summary>Room before a READ's data for either reply's header (simple, or structured OFFSET_DATA), so both leave in one write.</summary>
    private const int ReplyRoom = NbdChunks.OffsetDataPrefix;

    /// <summary>A BLOCK_STATUS answer covers at most this much (the client asks again for the rest): 64 objects of 4 MiB.</summary>
    private const long MaxStatusLength = 256L << 20;

    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly byte[] _replyHeader = new byte[NbdSimpleReply.Size];

    /// <summary>Serves requests until the client disconnects; returns why the connection ends.</summary>
    private async Task<string> TransmitAsync(string name, IBlockDevice device, CancellationToken cancellationToken)
    {
        NbdLog.Serving(_logger, _remote, name, device.Size, device.ReadOnly);
        // Cancelled on a hard close (client gone, malformed input, server stopping): device calls in flight stop too.
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var inFlight = new InFlightLimit(_config.MaxInFlightRequests, _config.MaxInFlightBytes);
        string reason = "closed";
        try
        {
            reason = await ReadRequestsAsync(name, device, inFlight, abort).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            reason = cancellationToken.IsCancellationRequested ? "server stopping" : abort.IsCancellationRequested ? "client gone" : e.Message;
        }
        finally
        {
            // NBD_CMD_DISC is the soft disconnect: requests in flight finish and are answered. Anything else is a hard close.
            if (reason != Disconnected) await abort.CancelAsync().ConfigureAwait(false);
            // The device is disposed after this returns: no call may still be running on it.
            await inFlight.DrainAsync().ConfigureAwait(false);
        }
        return reason;
    }

    private async Task<string> ReadRequestsAsync(string name, IBlockDevice device, InFlightLimit inFlight, CancellationTokenSource abort)
    {
        var token = abort.Token;
        var header = new byte[NbdRequest.Size];
        while (true)
        {
            if (!await ReadExactlyAsync(header, token).ConfigureAwait(false)) return "client closed the connection";
            var malformed = NbdRequest.TryParse(header, out var request);
            if (malformed != NbdMalformed.None)
            {
                Malformed(malformed, "request");
                return "malformed request";
            }
            _counters.Request(request.Command);
            if (request.Command == NbdCommand.Disc) return Disconnected;

            uint error = NbdRequestCheck.Validate(request, device.Size, device.ReadOnly, _allocationContext);
            if (error != 0)
            {
                // The payload of a refused WRITE is still on the wire: drop it to stay in step, or give up on an absurd one.
                if (request.Command == NbdCommand.Write)
                {
                    if (request.Length > MaxSkippedPayload)
                    {
                        Malformed(NbdMalformed.TooLong, $"write of {request.Length} bytes");
                        return "absurd write length";
                    }
                    if (!await SkipAsync(request.Length, token).ConfigureAwait(false)) return "client closed the connection";
                }
                NbdLog.Refused(_logger, _remote, name, request.Command, request.Offset, request.Length, error);
                _counters.Error(error);
                await SendReplyAsync(request, error, null, 0, null, token).ConfigureAwait(false);
                continue;
            }

            int payload = request.Command is NbdCommand.Read or NbdCommand.Write ? (int)request.Length : 0;
            await inFlight.EnterAsync(payload, token).ConfigureAwait(false);
            // READ data goes after room for the reply header, so header and data leave in one write.
            byte[]? buffer = payload == 0 ? null : ArrayPool<byte>.Shared.Rent(ReplyRoom + payload);
            bool started = false;
            try
            {
                if (request.Command == NbdCommand.Write
                    && !await ReadExactlyAsync(buffer.AsMemory(ReplyRoom, payload), token).ConfigureAwait(false))
                    return "client closed the connection";
                _ = ExecuteAsync(name, device, request, buffer, payload, inFlight, abort);
                started = true;
            }
            finally
            {
                if (!started)
                {
                    if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
                    inFlight.Exit(payload);
                }
            }
        }
    }

    /// <summary>Runs one admitted request and replies; owns <paramref name="buffer"/> and the in-flight slot. Never throws.</summary>
    private async Task ExecuteAsync(string name, IBlockDevice device, NbdRequest request, byte[]? buffer, int payload,
        InFlightLimit inFlight, CancellationTokenSource abort)
    {
        var token = abort.Token;
        try
        {
            // Leave the reader loop at once, even when the device completes synchronously (or blocks): the next
            // request is read while this one runs. The hop is cheap: fio 4 KiB QD16 on 2 cores, in-memory device,
            // ~32k reads/s and ~36k writes/s warm (qemu-nbd on tmpfs: ~29k and ~31k).
            await Task.Yield();
            uint error = 0;
            byte[]? status = null;
            try
            {
                if (request.Command == NbdCommand.BlockStatus)
                    status = await BlockStatusAsync(device, request, token).ConfigureAwait(false);
                else
                    await RunOnDeviceAsync(device, request, buffer, payload, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return; // the connection is closing: nobody is left to answer
            }
            catch (BlockDeviceException e)
            {
                error = NbdErrno.FromDevice(e.Errno);
                DeviceFailed(e, name, request, error);
            }
            catch (Exception e)
            {
                error = NbdErrno.EIO;
                DeviceFailed(e, name, request, error);
            }
            if (error != 0) _counters.Error(error);
            await SendReplyAsync(request, error, buffer, payload, status, token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The client is gone: stop the reader loop and the other requests too.
            try { await abort.CancelAsync().ConfigureAwait(false); } catch (ObjectDisposedException) { }
        }
        finally
        {
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
            inFlight.Exit(payload);
        }
    }

    private static async ValueTask RunOnDeviceAsync(IBlockDevice device, NbdRequest request, byte[]? buffer, int payload, CancellationToken token)
    {
        long offset = (long)request.Offset;
        bool fua = request.Flags.HasFlag(NbdCommandFlags.Fua);
        switch (request.Command)
        {
            case NbdCommand.Read:
                await device.ReadAsync(offset, buffer.AsMemory(ReplyRoom, payload), token).ConfigureAwait(false);
                break;
            case NbdCommand.Write:
                await device.WriteAsync(offset, buffer.AsMemory(ReplyRoom, payload), fua, token).ConfigureAwait(false);
                break;
            case NbdCommand.Flush:
                await device.FlushAsync(token).ConfigureAwait(false);
                break;
            case NbdCommand.Trim:
                await device.TrimAsync(offset, request.Length, token).ConfigureAwait(false);
                // TRIM has no FUA of its own on the device: a flush makes the discard durable before the reply.
                if (fua) await device.FlushAsync(token).ConfigureAwait(false);
                break;
            case NbdCommand.WriteZeroes:
                await device.WriteZeroesAsync(offset, request.Length, fua, token).ConfigureAwait(false);
                break;
            default:
                throw new InvalidOperationException($"command {request.Command} passed validation");
        }
    }

    /// <summary>Device failures are warnings at most once a second per server; the rest are debug, so a dead disk cannot flood the log.</summary>
    private void DeviceFailed(Exception e, string name, NbdRequest request, uint errno)
    {
        if (_deviceWarnings.TryPass())
            NbdLog.DeviceFailed(_logger, e, _remote, name, request.Command, request.Offset, request.Length, errno);
        else
            NbdLog.DeviceFailedAgain(_logger, _remote, name, request.Command, request.Offset, request.Length, errno, e.Message);
    }

    /// <summary>The "base:allocation" extents from the request's offset (one with NBD_CMD_FLAG_REQ_ONE), as a whole reply.</summary>
    private static async Task<byte[]> BlockStatusAsync(IBlockDevice device, NbdRequest request, CancellationToken token)
    {
        long offset = (long)request.Offset, length = Math.Min(request.Length, MaxStatusLength);
        var data = await device.AllocatedAsync(offset, length, token).ConfigureAwait(false);
        var extents = NbdMetaContexts.Describe(offset, length, data, request.Flags.HasFlag(NbdCommandFlags.ReqOne));
        return NbdChunks.BlockStatus(request.Handle, NbdMetaContexts.AllocationId, extents);
    }

    /// <summary>
    /// The reply to <paramref name="request"/>: an error, <paramref name="status"/> (a BLOCK_STATUS chunk), or success —
    /// with a READ's data, which sits in <paramref name="buffer"/> after <see cref="ReplyRoom"/> bytes, so header and data
    /// leave in one write. With structured replies READ and BLOCK_STATUS are answered with chunks, the rest simply.
    /// </summary>
    private async ValueTask SendReplyAsync(NbdRequest request, uint error, byte[]? buffer, int dataLength, byte[]? status, CancellationToken token)
    {
        bool chunked = _structured && request.Command is NbdCommand.Read or NbdCommand.BlockStatus;
        await _writeLock.WaitAsync(token).ConfigureAwait(false);
        try
        {
            ReadOnlyMemory<byte> message;
            if (error != 0 && chunked)
            {
                message = NbdChunks.Error(request.Handle, error);
            }
            else if (error == 0 && status is not null)
            {
                message = status;
            }
            else if (error == 0 && request.Command == NbdCommand.Read && chunked)
            {
                NbdChunks.FormatOffsetData(buffer, request.Handle, request.Offset, dataLength);
                message = buffer.AsMemory(0, ReplyRoom + dataLength);
            }
            else if (error == 0 && request.Command == NbdCommand.Read)
            {
                new NbdSimpleReply(0, request.Handle).TryFormat(buffer.AsSpan(ReplyRoom - NbdSimpleReply.Size), out _);
                message = buffer.AsMemory(ReplyRoom - NbdSimpleReply.Size, NbdSimpleReply.Size + dataLength);
            }
            else
            {
                new NbdSimpleReply(error, request.Handle).TryFormat(_replyHeader, out _);
                message = _replyHeader;
            }
            await _stream.WriteAsync(message, token).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }
}
