using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Rampart.Rados.Auth;
using Rampart.Rados.Messaging;

namespace Rampart.Rados.Tests.Messaging;

public class ConnectionTests
{
    private const ushort Echo = 0x0100;
    private const ushort Fail = 0x0101;
    private const ushort Slow = 0x0102;
    private const ushort WhoAmI = 0x0103;

    private static readonly EntityName Glance = EntityName.Parse("client.glance");
    private static readonly byte[] GlanceKey = Convert.FromBase64String(Keyring.GenerateKey());
    private static readonly Keyring Keyring = Keyring.Empty.With(
        new KeyringEntry(Glance, GlanceKey, Caps.None.With("osd", "allow rwx pool=images")));

    private static readonly RequestHandler Handler = async (connection, request, ct) =>
    {
        switch (request.Type)
        {
            case Echo:
                return request.Payload;
            case Fail:
                throw new InvalidOperationException("no such object");
            case Slow:
                await Task.Delay(Timeout.Infinite, ct);
                return default;
            case WhoAmI:
                return System.Text.Encoding.UTF8.GetBytes(
                    $"{connection.Session.Entity} write images={connection.Session.Caps.Allows("osd", CapOp.Write, "images")}");
            default:
                throw new NotSupportedException($"type {request.Type}");
        }
    };

    private static MessageServer StartServer(ConnectionOptions? options = null)
    {
        var server = new MessageServer(new IPEndPoint(IPAddress.Loopback, 0), Keyring, Handler, options);
        server.Start();
        return server;
    }

    [Fact]
    public async Task Handshake_Then_1000ConcurrentRequests_AnsweredByTid()
    {
        await using var server = StartServer();
        await using var client = await Connection.ConnectAsync(server.LocalEndPoint, Glance, GlanceKey);
        Assert.Equal(Glance, client.Session.Entity);

        var who = await client.RequestAsync(WhoAmI, default);
        Assert.Equal("client.glance write images=True", System.Text.Encoding.UTF8.GetString(who.Payload.Span));

        var requests = Enumerable.Range(0, 1000).Select(async i =>
        {
            var payload = new byte[4 + (i % 50)];
            BinaryPrimitives.WriteInt32BigEndian(payload, i);
            var response = await client.RequestAsync(Echo, payload);
            Assert.True(response.IsResponse);
            Assert.Equal(payload, response.Payload.ToArray());
            return BinaryPrimitives.ReadInt32BigEndian(response.Payload.Span);
        });
        int[] answers = await Task.WhenAll(requests);
        Assert.Equal(Enumerable.Range(0, 1000), answers);
    }

    [Fact]
    public async Task HandlerError_ReachesCaller_ConnectionStaysUp()
    {
        await using var server = StartServer();
        await using var client = await Connection.ConnectAsync(server.LocalEndPoint, Glance, GlanceKey);
        var e = await Assert.ThrowsAsync<RemoteRequestException>(() => client.RequestAsync(Fail, default));
        Assert.Equal("no such object", e.Message);
        Assert.Equal(3, (await client.RequestAsync(Echo, new byte[3])).Payload.Length);
    }

    [Fact]
    public async Task WrongKey_And_UnknownEntity_Rejected()
    {
        await using var server = StartServer();
        var wrong = await Assert.ThrowsAsync<AuthenticationException>(
            () => Connection.ConnectAsync(server.LocalEndPoint, Glance, new byte[32]));
        Assert.EndsWith("rejected by server: bad key for client.glance", wrong.Message);
        var unknown = await Assert.ThrowsAsync<AuthenticationException>(
            () => Connection.ConnectAsync(server.LocalEndPoint, EntityName.Parse("client.nova"), GlanceKey));
        Assert.EndsWith("rejected by server: unknown entity client.nova", unknown.Message);
        await WaitUntil(() => server.AuthFailures == 2);
    }

    [Fact]
    public async Task GarbageSender_Disconnected_OthersKeepServing()
    {
        await using var server = StartServer();
        await using var good = await Connection.ConnectAsync(server.LocalEndPoint, Glance, GlanceKey);

        // An authenticated peer that then sends garbage: we do the handshake by hand over a raw socket.
        using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(server.LocalEndPoint);
        await using var stream = new NetworkStream(raw);
        var handshake = new ClientHandshake(Glance, GlanceKey);
        await SendAuth(stream, handshake.Start());
        var proof = handshake.Receive(await ReadAuth(stream)).Send!;
        await SendAuth(stream, proof);
        Assert.NotNull(handshake.Receive(await ReadAuth(stream)).Session);
        await WaitUntil(() => server.ActiveConnections == 2);

        await stream.WriteAsync("GET / HTTP/1.1\r\n\r\n"u8.ToArray());
        var rest = new byte[64];
        Assert.Equal(0, await stream.ReadAsync(rest)); // server closed it
        await WaitUntil(() => server.FrameErrors == 1 && server.ActiveConnections == 1);

        Assert.Equal(5, (await good.RequestAsync(Echo, new byte[5])).Payload.Length);

        // Garbage before any handshake: also closed and counted, the good client still served.
        using var rude = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await rude.ConnectAsync(server.LocalEndPoint);
        await rude.SendAsync(new byte[] { 0xA1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 });
        Assert.Equal(0, await rude.ReceiveAsync(rest));
        await WaitUntil(() => server.FrameErrors == 2);
        Assert.Equal(6, (await good.RequestAsync(Echo, new byte[6])).Payload.Length);
    }

    [Fact]
    public async Task SlowHandler_TimesOut_WithClearError()
    {
        await using var server = StartServer();
        var options = new ConnectionOptions { RequestTimeout = TimeSpan.FromMilliseconds(200) };
        await using var client = await Connection.ConnectAsync(server.LocalEndPoint, Glance, GlanceKey, options);
        var e = await Assert.ThrowsAsync<TimeoutException>(() => client.RequestAsync(Slow, default));
        Assert.Matches(@"^request type 0x0102 tid \d+ to 127\.0\.0\.1:\d+: no response within 0\.2 s$", e.Message);
        Assert.Equal(1, (await client.RequestAsync(Echo, new byte[1])).Payload.Length);
    }

    [Fact]
    public async Task SilentServer_HandshakeTimesOut()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var options = new ConnectionOptions { HandshakeTimeout = TimeSpan.FromMilliseconds(200) };
        var e = await Assert.ThrowsAsync<TimeoutException>(
            () => Connection.ConnectAsync(listener.LocalEndPoint!, Glance, GlanceKey, options));
        Assert.Matches(@"^handshake with 127\.0\.0\.1:\d+ did not finish within 0\.2 s$", e.Message);
    }

    [Fact]
    public async Task ServerStops_PendingRequestsFail()
    {
        var server = StartServer();
        var client = await Connection.ConnectAsync(server.LocalEndPoint, Glance, GlanceKey);
        var pending = client.RequestAsync(Slow, default);
        await server.DisposeAsync();
        await Assert.ThrowsAsync<ConnectionClosedException>(() => pending);
        Assert.NotNull(await client.Completion);
        await Assert.ThrowsAsync<ConnectionClosedException>(() => client.RequestAsync(Echo, default));
        await client.DisposeAsync();
    }

    private static async Task SendAuth(Stream stream, AuthMessage message)
    {
        var output = new System.Buffers.ArrayBufferWriter<byte>();
        FrameWriter.Write(output, AuthCodec.TypeOf(message), 0, AuthCodec.Encode(message));
        await stream.WriteAsync(output.WrittenMemory);
    }

    private static async Task<AuthMessage> ReadAuth(Stream stream)
    {
        var header = new byte[Frame.HeaderLength];
        await stream.ReadExactlyAsync(header);
        var payload = new byte[BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12))];
        await stream.ReadExactlyAsync(payload);
        var buffer = new System.Buffers.ReadOnlySequence<byte>([.. header, .. payload]);
        Assert.True(new FrameReader().TryRead(ref buffer, out var frame, out _));
        Assert.True(AuthCodec.TryDecode(frame.Type, frame.Payload.Span, out var message, out _));
        return message;
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
            await Task.Delay(10, timeout.Token);
    }
}
