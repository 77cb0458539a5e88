using System.Security.Cryptography;
using System.Text;

namespace Rampart.Rados.Auth;

/// <summary>An authenticated peer. On the server <see cref="Caps"/> are the client's caps; on the client they are <see cref="Caps.None"/>.</summary>
public sealed record AuthSession(EntityName Entity, ulong SessionId, byte[] SessionKey, Caps Caps);

/// <summary>What a handshake step produced: a message to send, a finished session, or a failure (send <see cref="Send"/> first if set).</summary>
public readonly record struct HandshakeStep(AuthMessage? Send, AuthSession? Session, string? Failure)
{
    public bool Failed => Failure is not null;
}

/// <summary>
/// The proofs and the session key. Both sides hold the entity's secret K:
/// <code>
/// client proof = HMAC-SHA256(K, "rampart-auth-v1" | 0 | "client" | 0 | entity | 0 | client nonce | server nonce)
/// server proof = HMAC-SHA256(K, "rampart-auth-v1" | 0 | "server" | 0 | entity | 0 | client nonce | server nonce | session id)
/// session key  = HMAC-SHA256(K, "rampart-auth-v1" | 0 | "session" | 0 | entity | 0 | client nonce | server nonce)
/// </code>
/// Distinct roles mean a client proof can never be reflected back as a server proof; fresh nonces on
/// both sides mean a recorded proof is worthless in another session.
/// </summary>
public static class AuthCrypto
{
    public const string Label = "rampart-auth-v1";

    public static byte[] ClientProof(ReadOnlySpan<byte> key, EntityName entity, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce) =>
        Mac(key, "client", entity, clientNonce, serverNonce, []);

    public static byte[] ServerProof(ReadOnlySpan<byte> key, EntityName entity, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce, ulong sessionId)
    {
        Span<byte> id = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(id, sessionId);
        return Mac(key, "server", entity, clientNonce, serverNonce, id);
    }

    public static byte[] SessionKey(ReadOnlySpan<byte> key, EntityName entity, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce) =>
        Mac(key, "session", entity, clientNonce, serverNonce, []);

    private static byte[] Mac(ReadOnlySpan<byte> key, string role, EntityName entity, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce, ReadOnlySpan<byte> extra)
    {
        byte[] prefix = Encoding.ASCII.GetBytes($"{Label}\0{role}\0{entity}\0");
        byte[] input = [.. prefix, .. clientNonce, .. serverNonce, .. extra];
        return HMACSHA256.HashData(key, input);
    }
}

/// <summary>
/// Client side of the handshake, a pure state machine:
/// <c>Start()</c> → Hello; <c>Receive(Challenge)</c> → Proof; <c>Receive(Accepted)</c> → session once the
/// server's proof checks out; <c>Receive(Rejected)</c> or anything unexpected → failure.
/// </summary>
public sealed class ClientHandshake
{
    private enum State { Initial, SentHello, SentProof, Done, Failed }

    private readonly EntityName _entity;
    private readonly byte[] _key;
    private readonly byte[] _clientNonce = new byte[AuthCodec.NonceLength];
    private byte[]? _serverNonce;
    private State _state;

    /// <param name="fillRandom">Nonce source; tests pass a deterministic one. Default: <see cref="RandomNumberGenerator.Fill"/>.</param>
    public ClientHandshake(EntityName entity, byte[] key, Action<Span<byte>>? fillRandom = null)
    {
        _entity = entity;
        _key = key;
        (fillRandom ?? RandomNumberGenerator.Fill)(_clientNonce);
    }

    public bool IsDone => _state == State.Done;

    public Hello Start()
    {
        if (_state != State.Initial)
            throw new InvalidOperationException("handshake already started");
        _state = State.SentHello;
        return new Hello(_entity, _clientNonce);
    }

    public HandshakeStep Receive(AuthMessage message)
    {
        switch (_state, message)
        {
            case (State.SentHello, Challenge challenge):
                _serverNonce = challenge.ServerNonce;
                _state = State.SentProof;
                return new(new Proof(AuthCrypto.ClientProof(_key, _entity, _clientNonce, _serverNonce)), null, null);
            case (State.SentProof, Accepted accepted):
            {
                byte[] expected = AuthCrypto.ServerProof(_key, _entity, _clientNonce, _serverNonce!, accepted.SessionId);
                if (!CryptographicOperations.FixedTimeEquals(expected, accepted.ServerProof))
                    return Fail("server failed to prove it knows the key (wrong server or tampered reply)");
                _state = State.Done;
                var sessionKey = AuthCrypto.SessionKey(_key, _entity, _clientNonce, _serverNonce!);
                return new(null, new AuthSession(_entity, accepted.SessionId, sessionKey, Caps.None), null);
            }
            case (State.SentHello or State.SentProof, Rejected rejected):
                return Fail($"rejected by server: {rejected.Message}");
            default:
                return Fail($"unexpected {message.GetType().Name} in state {_state}");
        }
    }

    private HandshakeStep Fail(string reason)
    {
        _state = State.Failed;
        return new(null, null, reason);
    }
}

/// <summary>
/// Server side: <c>Receive(Hello)</c> → Challenge (or Rejected: unknown entity);
/// <c>Receive(Proof)</c> → Accepted and the session, or Rejected (bad key). One attempt per handshake.
/// </summary>
public sealed class ServerHandshake
{
    private enum State { AwaitHello, AwaitProof, Done, Failed }

    private readonly Func<EntityName, KeyringEntry?> _lookup;
    private readonly ulong _sessionId;
    private readonly byte[] _serverNonce = new byte[AuthCodec.NonceLength];
    private Hello? _hello;
    private KeyringEntry? _entry;
    private State _state;

    public ServerHandshake(Keyring keyring, ulong sessionId, Action<Span<byte>>? fillRandom = null)
        : this(keyring.Find, sessionId, fillRandom)
    {
    }

    /// <param name="lookup">Finds an entity's key and caps (the keyring, or the monitors' auth database).</param>
    public ServerHandshake(Func<EntityName, KeyringEntry?> lookup, ulong sessionId, Action<Span<byte>>? fillRandom = null)
    {
        _lookup = lookup;
        _sessionId = sessionId;
        (fillRandom ?? RandomNumberGenerator.Fill)(_serverNonce);
    }

    public bool IsDone => _state == State.Done;

    public HandshakeStep Receive(AuthMessage message)
    {
        switch (_state, message)
        {
            case (State.AwaitHello, Hello hello):
                _entry = _lookup(hello.Entity);
                if (_entry is null)
                    return Reject(RejectReason.UnknownEntity, $"unknown entity {hello.Entity}");
                _hello = hello;
                _state = State.AwaitProof;
                return new(new Challenge(_serverNonce), null, null);
            case (State.AwaitProof, Proof proof):
            {
                var entity = _hello!.Entity;
                byte[] expected = AuthCrypto.ClientProof(_entry!.Key, entity, _hello.ClientNonce, _serverNonce);
                if (!CryptographicOperations.FixedTimeEquals(expected, proof.Mac))
                    return Reject(RejectReason.BadProof, $"bad key for {entity}");
                _state = State.Done;
                byte[] serverProof = AuthCrypto.ServerProof(_entry.Key, entity, _hello.ClientNonce, _serverNonce, _sessionId);
                var sessionKey = AuthCrypto.SessionKey(_entry.Key, entity, _hello.ClientNonce, _serverNonce);
                return new(new Accepted(_sessionId, serverProof), new AuthSession(entity, _sessionId, sessionKey, _entry.Caps), null);
            }
            default:
                return Reject(RejectReason.Protocol, $"unexpected {message.GetType().Name} in state {_state}");
        }
    }

    private HandshakeStep Reject(RejectReason reason, string text)
    {
        _state = State.Failed;
        return new(new Rejected(reason, text), null, text);
    }
}
