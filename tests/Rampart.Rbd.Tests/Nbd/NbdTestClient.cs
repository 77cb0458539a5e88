using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Rampart.Rbd.Nbd;

namespace Rampart.Rbd.Tests.Nbd;

/// <summary>A raw NBD client built on the codec, so tests can send exactly the bytes they mean (good or bad).</summary>
internal sealed class NbdTestClient : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private NbdTestClient(Socket socket)
    {
        Socket = socket;
        Stream = new NetworkStream(socket, ownsSocket: true);
    }

    public Socket Socket { get; }

    public NetworkStream Stream { get; }

    /// <summary>Connects and reads the greeting; the client flags are not sent yet.</summary>
    public static async Task<NbdTestClient> ConnectRawAsync(EndPoint endpoint)
    {
        var socket = endpoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(endpoint).WaitAsync(Timeout);
        return new NbdTestClient(socket);
    }

    /// <summary>Connects, checks the greeting and answers it with fixed newstyle and no zeroes.</summary>
    public static async Task<NbdTestClient> ConnectAsync(EndPoint endpoint, NbdClientFlags flags = NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes)
    {
        var client = await ConnectRawAsync(endpoint);
        var greeting = await client.ReadBytesAsync(NbdGreeting.Size);
        Assert.Equal(NbdMalformed.None, NbdGreeting.TryParse(greeting, out var parsed));
        Assert.Equal(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes, parsed.Flags);
        var raw = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(raw, (uint)flags);
        await client.SendAsync(raw);
        return client;
    }

    /// <summary>Connects and enters transmission on <paramref name="export"/> with NBD_OPT_GO.</summary>
    public static async Task<(NbdTestClient Client, ulong Size, NbdTransmissionFlags Flags)> OpenAsync(EndPoint endpoint, string export)
    {
        var client = await ConnectAsync(endpoint);
        var (size, flags) = await client.GoAsync(export);
        return (client, size, flags);
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes) => await Stream.WriteAsync(bytes).AsTask().WaitAsync(Timeout);

    public async Task<byte[]> ReadBytesAsync(int count)
    {
        var bytes = new byte[count];
        await Stream.ReadExactlyAsync(bytes).AsTask().WaitAsync(Timeout);
        return bytes;
    }

    /// <summary>True once the server has closed the connection (a read returns 0 or fails).</summary>
    public async Task<bool> ServerClosedAsync()
    {
        var one = new byte[1];
        try { return await Stream.ReadAsync(one).AsTask().WaitAsync(Timeout) == 0; }
        catch (IOException) { return true; }
    }

    public async Task SendOptionAsync(NbdOption option, byte[]? data = null)
    {
        data ??= [];
        var bytes = new byte[NbdOptionHeader.Size + data.Length];
        new NbdOptionHeader(option, (uint)data.Length).TryFormat(bytes, out _);
        data.CopyTo(bytes, NbdOptionHeader.Size);
        await SendAsync(bytes);
    }

    public async Task<(NbdOptionReplyHeader Header, byte[] Data)> ReadOptionReplyAsync()
    {
        Assert.Equal(NbdMalformed.None, NbdOptionReplyHeader.TryParse(await ReadBytesAsync(NbdOptionReplyHeader.Size), out var header));
        return (header, await ReadBytesAsync((int)header.Length));
    }

    /// <summary>Replies up to and including the final one (an ACK or an error).</summary>
    public async Task<List<(NbdOptionReplyHeader Header, byte[] Data)>> ReadOptionRepliesAsync()
    {
        var replies = new List<(NbdOptionReplyHeader, byte[])>();
        while (true)
        {
            var reply = await ReadOptionReplyAsync();
            replies.Add(reply);
            if (reply.Header.Type is not (NbdReplyType.Server or NbdReplyType.Info or NbdReplyType.MetaContext)) return replies;
        }
    }

    public static byte[] InfoRequest(string name, params NbdInfoType[] requests)
    {
        var request = new NbdExportInfoRequest(name, requests);
        var bytes = new byte[request.FormattedLength];
        request.TryFormat(bytes, out _);
        return bytes;
    }

    public async Task<(ulong Size, NbdTransmissionFlags Flags)> GoAsync(string name)
    {
        await SendOptionAsync(NbdOption.Go, InfoRequest(name, NbdInfoType.BlockSize));
        var replies = await ReadOptionRepliesAsync();
        Assert.Equal(NbdReplyType.Ack, replies[^1].Header.Type);
        var export = replies.Single(r => r.Header.Type == NbdReplyType.Info && BinaryPrimitives.ReadUInt16BigEndian(r.Data) == (ushort)NbdInfoType.Export).Data;
        return (BinaryPrimitives.ReadUInt64BigEndian(export.AsSpan(2)), (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(export.AsSpan(10)));
    }

    public static string Text(byte[] data) => Encoding.UTF8.GetString(data);

    public async Task SendRequestAsync(NbdCommand command, ulong handle, ulong offset, uint length, NbdCommandFlags flags = NbdCommandFlags.None, byte[]? payload = null)
    {
        payload ??= [];
        var bytes = new byte[NbdRequest.Size + payload.Length];
        new NbdRequest(flags, command, handle, offset, length).TryFormat(bytes, out _);
        payload.CopyTo(bytes, NbdRequest.Size);
        await SendAsync(bytes);
    }

    public async Task<NbdSimpleReply> ReadReplyAsync()
    {
        Assert.Equal(NbdMalformed.None, NbdSimpleReply.TryParse(await ReadBytesAsync(NbdSimpleReply.Size), out var reply));
        return reply;
    }

    private ulong _handle = 1000;

    /// <summary>One request at a time: sends it and returns the errno of its reply.</summary>
    public async Task<uint> CommandAsync(NbdCommand command, ulong offset, uint length, NbdCommandFlags flags = NbdCommandFlags.None, byte[]? payload = null)
    {
        ulong handle = ++_handle;
        await SendRequestAsync(command, handle, offset, length, flags, payload);
        var reply = await ReadReplyAsync();
        Assert.Equal(handle, reply.Handle);
        return reply.Error;
    }

    public Task<uint> WriteAsync(ulong offset, byte[] data, NbdCommandFlags flags = NbdCommandFlags.None) =>
        CommandAsync(NbdCommand.Write, offset, (uint)data.Length, flags, data);

    /// <summary>A READ that must succeed; returns its data.</summary>
    public async Task<byte[]> ReadAsync(ulong offset, int length)
    {
        Assert.Equal(0u, await CommandAsync(NbdCommand.Read, offset, (uint)length));
        return await ReadBytesAsync(length);
    }

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync();
        Socket.Dispose();
    }
}
