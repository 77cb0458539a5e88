using Rampart.Rados.Auth;

namespace Rampart.Rados.Tests.Auth;

public class HandshakeTests
{
    private static readonly EntityName Glance = EntityName.Parse("client.glance");
    private static readonly byte[] GlanceKey = Convert.FromBase64String(Keyring.GenerateKey());
    private static readonly Keyring Keyring = Keyring.Empty.With(new KeyringEntry(Glance, GlanceKey, Caps.None.With("osd", "allow rwx pool=images")));

    /// <summary>Runs both machines against each other, passing every message through the codec.</summary>
    private static (HandshakeStep Client, HandshakeStep Server) Run(ClientHandshake client, ServerHandshake server)
    {
        AuthMessage toServer = Wire(client.Start());
        while (true)
        {
            var s = server.Receive(toServer);
            if (s.Failed || s.Send is null)
                return (s.Send is null ? default : client.Receive(Wire(s.Send)), s);
            var c = client.Receive(Wire(s.Send));
            if (c.Failed || c.Session is not null)
                return (c, s);
            toServer = Wire(c.Send!);
        }
    }

    private static AuthMessage Wire(AuthMessage message)
    {
        Assert.True(AuthCodec.TryDecode(AuthCodec.TypeOf(message), AuthCodec.Encode(message), out var decoded, out string? error), error);
        return decoded;
    }

    [Fact]
    public void RightKey_BothSidesAuthenticated_SameSessionKey()
    {
        var (client, server) = Run(new ClientHandshake(Glance, GlanceKey), new ServerHandshake(Keyring, 42));
        Assert.NotNull(client.Session);
        Assert.NotNull(server.Session);
        Assert.Equal(42ul, client.Session.SessionId);
        Assert.Equal(Glance, server.Session.Entity);
        Assert.Equal(client.Session.SessionKey, server.Session.SessionKey);
        Assert.True(server.Session.Caps.Allows("osd", CapOp.Write, "images"));
    }

    [Fact]
    public void WrongKey_Rejected()
    {
        var (client, server) = Run(new ClientHandshake(Glance, new byte[32]), new ServerHandshake(Keyring, 1));
        Assert.Equal("bad key for client.glance", server.Failure);
        Assert.Equal(RejectReason.BadProof, Assert.IsType<Rejected>(server.Send).Reason);
        Assert.Equal("rejected by server: bad key for client.glance", client.Failure);
    }

    [Fact]
    public void UnknownEntity_Rejected()
    {
        var (client, server) = Run(new ClientHandshake(EntityName.Parse("client.nova"), GlanceKey), new ServerHandshake(Keyring, 1));
        Assert.Equal(RejectReason.UnknownEntity, Assert.IsType<Rejected>(server.Send).Reason);
        Assert.Equal("rejected by server: unknown entity client.nova", client.Failure);
    }

    [Fact]
    public void ReplayedProof_FromEarlierSession_Rejected()
    {
        // Record an honest session...
        var honest = new ClientHandshake(Glance, GlanceKey);
        var hello = honest.Start();
        var first = new ServerHandshake(Keyring, 1);
        var challenge = (Challenge)first.Receive(hello).Send!;
        var proof = (Proof)honest.Receive(challenge).Send!;
        Assert.NotNull(first.Receive(proof).Session);

        // ...and replay its hello and proof to a new server session: fresh server nonce, proof worthless.
        var second = new ServerHandshake(Keyring, 2);
        Assert.IsType<Challenge>(second.Receive(hello).Send);
        var replay = second.Receive(proof);
        Assert.Equal(RejectReason.BadProof, Assert.IsType<Rejected>(replay.Send).Reason);
        Assert.Null(replay.Session);
    }

    [Fact]
    public void TamperedProof_Rejected()
    {
        var client = new ClientHandshake(Glance, GlanceKey);
        var server = new ServerHandshake(Keyring, 1);
        var challenge = server.Receive(client.Start()).Send!;
        var proof = (Proof)client.Receive(challenge).Send!;
        proof.Mac[7] ^= 1;
        Assert.Equal(RejectReason.BadProof, Assert.IsType<Rejected>(server.Receive(proof).Send).Reason);
    }

    [Fact]
    public void ForgedServer_ClientRefuses()
    {
        // A server that does not know the key cannot produce the server proof.
        var client = new ClientHandshake(Glance, GlanceKey);
        client.Start();
        client.Receive(new Challenge(new byte[16]));
        var step = client.Receive(new Accepted(1, new byte[32]));
        Assert.Equal("server failed to prove it knows the key (wrong server or tampered reply)", step.Failure);
        Assert.Null(step.Session);
    }

    [Fact]
    public void ReflectedClientProof_IsNotAServerProof()
    {
        var client = new ClientHandshake(Glance, GlanceKey, b => b.Fill(1));
        var hello = client.Start();
        var serverNonce = new byte[16];
        var proof = (Proof)client.Receive(new Challenge(serverNonce)).Send!;
        Assert.True(client.Receive(new Accepted(0, proof.Mac)).Failed);
    }

    [Fact]
    public void MessagesOutOfOrder_Fail()
    {
        var server = new ServerHandshake(Keyring, 1);
        var step = server.Receive(new Proof(new byte[32]));
        Assert.Equal(RejectReason.Protocol, Assert.IsType<Rejected>(step.Send).Reason);
        var client = new ClientHandshake(Glance, GlanceKey);
        client.Start();
        Assert.Equal("unexpected Accepted in state SentHello", client.Receive(new Accepted(1, new byte[32])).Failure);
    }

    [Fact]
    public void Hello_GoldenBytes()
    {
        var hello = new Hello(EntityName.Parse("osd.0"), Enumerable.Range(0, 16).Select(i => (byte)i).ToArray());
        Assert.Equal(
            Convert.FromHexString("056F73642E30000102030405060708090A0B0C0D0E0F"),
            AuthCodec.Encode(hello));
    }

    [Theory]
    [InlineData(AuthMessageTypes.Hello, "")]
    [InlineData(AuthMessageTypes.Hello, "00")]
    [InlineData(AuthMessageTypes.Hello, "05616263")]
    [InlineData(AuthMessageTypes.Challenge, "00")]
    [InlineData(AuthMessageTypes.Rejected, "01FFFF")]
    [InlineData(0x0100, "")]
    public void Decode_Rejects_Malformed(ushort type, string hex)
    {
        Assert.False(AuthCodec.TryDecode(type, Convert.FromHexString(hex), out _, out string? error));
        Assert.NotNull(error);
    }
}
