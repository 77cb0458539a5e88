using System.Text;

namespace Rampart.Rbd.Nbd;

// Fixed newstyle negotiation (proto.md "Fixed newstyle negotiation", "Option types"): greeting, client flags, then
// options until NBD_OPT_EXPORT_NAME or a successful NBD_OPT_GO moves to transmission.
internal sealed partial class NbdConnection
{
    private const NbdHandshakeFlags Offered = NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes;

    /// <summary>The export chosen by the client, opened; null when the handshake ended without one (the connection closes).</summary>
    private async Task<(string Name, IBlockDevice Device)?> HandshakeAsync(CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_config.HandshakeTimeout);
        var token = deadline.Token;
        try
        {
            var greeting = new byte[NbdGreeting.Size];
            new NbdGreeting(Offered).TryFormat(greeting, out _);
            await _stream.WriteAsync(greeting, token).ConfigureAwait(false);

            var raw = new byte[NbdClientFlagsCodec.Size];
            // A client that leaves here (an oldstyle client seeing IHAVEOPT, a port scanner) is not an error.
            if (!await ReadExactlyAsync(raw, token).ConfigureAwait(false)) return null;
            var malformed = NbdClientFlagsCodec.TryParse(raw, Offered, out var clientFlags);
            if (malformed != NbdMalformed.None)
            {
                Malformed(malformed, "client flags");
                return null;
            }
            bool noZeroes = clientFlags.HasFlag(NbdClientFlags.NoZeroes);

            var header = new byte[NbdOptionHeader.Size];
            while (true)
            {
                if (!await ReadExactlyAsync(header, token).ConfigureAwait(false)) return null;
                malformed = NbdOptionHeader.TryParse(header, out var option);
                if (malformed != NbdMalformed.None)
                {
                    Malformed(malformed, "option");
                    return null;
                }
                var data = new byte[option.Length];
                if (!await ReadExactlyAsync(data, token).ConfigureAwait(false)) return null;

                switch (option.Option)
                {
                    case NbdOption.ExportName:
                        return await ExportNameAsync(data, noZeroes, token).ConfigureAwait(false);
                    case NbdOption.Abort:
                        // The client may already be gone; the reply is a courtesy.
                        try { await ReplyAsync(option.Option, NbdReplyType.Ack, token).ConfigureAwait(false); }
                        catch (IOException) { }
                        return null;
                    case NbdOption.List:
                        await ListAsync(data, token).ConfigureAwait(false);
                        break;
                    case NbdOption.Info:
                    case NbdOption.Go:
                        if (await InfoAsync(option.Option, data, token).ConfigureAwait(false) is { } chosen)
                            return chosen;
                        break;
                    case NbdOption.StructuredReply:
                        if (data.Length != 0)
                        {
                            await ReplyAsync(option.Option, NbdReplyType.ErrInvalid, token, Message("NBD_OPT_STRUCTURED_REPLY carries no data")).ConfigureAwait(false);
                            break;
                        }
                        _structured = true;
                        await ReplyAsync(option.Option, NbdReplyType.Ack, token).ConfigureAwait(false);
                        break;
                    case NbdOption.ListMetaContext:
                    case NbdOption.SetMetaContext:
                        await MetaContextAsync(option.Option, data, token).ConfigureAwait(false);
                        break;
                    default:
                        // STARTTLS and anything newer: this server speaks no TLS.
                        await ReplyAsync(option.Option, NbdReplyType.ErrUnsup, token, Message($"option {(uint)option.Option} is not supported")).ConfigureAwait(false);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            NbdLog.HandshakeTimedOut(_logger, _remote, _config.HandshakeTimeout.TotalSeconds);
            return null;
        }
    }

    /// <summary>NBD_OPT_EXPORT_NAME cannot carry an error: an export that cannot be opened ends the session.</summary>
    private async Task<(string, IBlockDevice)?> ExportNameAsync(byte[] data, bool noZeroes, CancellationToken token)
    {
        var name = NbdStrings.TryDecode(data);
        var (device, error) = name is null ? (null, "export name is not a valid NBD string") : await OpenAsync(name, token).ConfigureAwait(false);
        if (device is null)
        {
            NbdLog.ExportRefused(_logger, _remote, name ?? "?", error ?? "unknown export");
            return null;
        }
        try
        {
            await _stream.WriteAsync(NbdOptionReplies.ExportName((ulong)device.Size, TransmissionFlags(device), noZeroes), token).ConfigureAwait(false);
        }
        catch
        {
            await device.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return (name!, device);
    }

    private async Task ListAsync(byte[] data, CancellationToken token)
    {
        if (data.Length != 0)
        {
            await ReplyAsync(NbdOption.List, NbdReplyType.ErrInvalid, token, Message("NBD_OPT_LIST carries no data")).ConfigureAwait(false);
            return;
        }
        foreach (var name in await _catalog.ListAsync(token).ConfigureAwait(false))
            await ReplyAsync(NbdOption.List, NbdReplyType.Server, token, NbdOptionReplies.Server(name)).ConfigureAwait(false);
        await ReplyAsync(NbdOption.List, NbdReplyType.Ack, token).ConfigureAwait(false);
    }

    /// <summary>
    /// NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT: "base:allocation" (holes and data, for NBD_CMD_BLOCK_STATUS)
    /// is the one context there is. SET needs structured replies first and replaces an earlier selection.
    /// </summary>
    private async Task MetaContextAsync(NbdOption option, byte[] data, CancellationToken token)
    {
        bool set = option == NbdOption.SetMetaContext;
        if (NbdMetaContexts.TryParse(data) is not { } request)
        {
            await ReplyAsync(option, NbdReplyType.ErrInvalid, token, Message("malformed export name or queries")).ConfigureAwait(false);
            return;
        }
        if (set && !_structured)
        {
            await ReplyAsync(option, NbdReplyType.ErrInvalid, token, Message("NBD_OPT_SET_META_CONTEXT needs NBD_OPT_STRUCTURED_REPLY first")).ConfigureAwait(false);
            return;
        }
        bool selected = NbdMetaContexts.Selects(request.Queries, list: !set);
        if (set) _allocationContext = selected;
        if (selected)
            await ReplyAsync(option, NbdReplyType.MetaContext, token, NbdMetaContexts.Reply(NbdMetaContexts.AllocationId, NbdMetaContexts.Allocation)).ConfigureAwait(false);
        await ReplyAsync(option, NbdReplyType.Ack, token).ConfigureAwait(false);
    }

    /// <summary>NBD_OPT_INFO and NBD_OPT_GO: describe the export; GO also returns it opened for transmission.</summary>
    private async Task<(string, IBlockDevice)?> InfoAsync(NbdOption option, byte[] data, CancellationToken token)
    {
        var request = NbdExportInfoRequest.TryParse(data);
        if (request is null)
        {
            await ReplyAsync(option, NbdReplyType.ErrInvalid, token, Message("malformed export name or information requests")).ConfigureAwait(false);
            return null;
        }
        var (device, error) = await OpenAsync(request.Name, token).ConfigureAwait(false);
        if (device is null)
        {
            NbdLog.ExportRefused(_logger, _remote, request.Name, error ?? "unknown export");
            await ReplyAsync(option, NbdReplyType.ErrUnknown, token, Message(error ?? $"unknown export '{request.Name}'")).ConfigureAwait(false);
            return null;
        }
        bool keep = false;
        try
        {
            // The export info is mandatory; block sizes are sent unasked (min 1 constrains nothing, max tells the 32 MiB cap).
            await ReplyAsync(option, NbdReplyType.Info, token, NbdOptionReplies.InfoExport((ulong)device.Size, TransmissionFlags(device))).ConfigureAwait(false);
            await ReplyAsync(option, NbdReplyType.Info, token, NbdOptionReplies.InfoBlockSize(NbdLimits.MinBlock, NbdLimits.PreferredBlock, NbdLimits.MaxPayload)).ConfigureAwait(false);
            if (request.Requests.Contains(NbdInfoType.Name))
                await ReplyAsync(option, NbdReplyType.Info, token, NbdOptionReplies.InfoString(NbdInfoType.Name, request.Name)).ConfigureAwait(false);
            await ReplyAsync(option, NbdReplyType.Ack, token).ConfigureAwait(false);
            keep = option == NbdOption.Go;
            return keep ? (request.Name, device) : null;
        }
        finally
        {
            if (!keep) await device.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The catalog's device, or null and why not (a catalog failure is the client's error message, not ours).</summary>
    private async Task<(IBlockDevice? Device, string? Error)> OpenAsync(string name, CancellationToken token)
    {
        try
        {
            var device = await _catalog.OpenAsync(name, token).ConfigureAwait(false);
            return device is null ? (null, $"unknown export '{name}'") : (device, null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return (null, $"cannot open export '{name}': {e.Message}");
        }
    }

    private static NbdTransmissionFlags TransmissionFlags(IBlockDevice device)
    {
        // CAN_MULTI_CONN: devices of one export share their state, so a FLUSH on one connection covers the others' writes.
        var flags = NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.SendFlush | NbdTransmissionFlags.SendFua
            | NbdTransmissionFlags.SendTrim | NbdTransmissionFlags.SendWriteZeroes | NbdTransmissionFlags.CanMultiConn;
        return device.ReadOnly ? flags | NbdTransmissionFlags.ReadOnly : flags;
    }

    private static byte[] Message(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return bytes.Length <= NbdLimits.MaxString ? bytes : bytes[..NbdLimits.MaxString];
    }

    /// <summary>One option reply, header and data in a single write.</summary>
    private async ValueTask ReplyAsync(NbdOption option, NbdReplyType type, CancellationToken token, byte[]? data = null)
    {
        data ??= [];
        var reply = new byte[NbdOptionReplyHeader.Size + data.Length];
        new NbdOptionReplyHeader(option, type, (uint)data.Length).TryFormat(reply, out _);
        data.CopyTo(reply.AsSpan(NbdOptionReplyHeader.Size));
        await _stream.WriteAsync(reply, token).ConfigureAwait(false);
    }
}
