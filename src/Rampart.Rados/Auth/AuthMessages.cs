using System.Buffers.Binary;
using System.Text;

namespace Rampart.Rados.Auth;

/// <summary>The messages of the handshake (see <see cref="ClientHandshake"/>).</summary>
public abstract record AuthMessage;

public sealed record Hello(EntityName Entity, byte[] ClientNonce) : AuthMessage;

public sealed record Challenge(byte[] ServerNonce) : AuthMessage;

public sealed record Proof(byte[] Mac) : AuthMessage;

/// <summary>The server accepted the client; <see cref="ServerProof"/> lets the client authenticate the server.</summary>
public sealed record Accepted(ulong SessionId, byte[] ServerProof) : AuthMessage;

public enum RejectReason : byte
{
    UnknownEntity = 1,
    BadProof = 2,
    Protocol = 3,
}

public sealed record Rejected(RejectReason Reason, string Message) : AuthMessage;

/// <summary>
/// Encoding of the handshake messages; the frame type says which message it is
/// (<see cref="AuthMessageTypes"/>). Big-endian, every length checked:
/// <code>
/// Hello     u8 name length (1-255) · name (ASCII) · 16-byte client nonce
/// Challenge 16-byte server nonce
/// Proof     32-byte HMAC-SHA256
/// Accepted  u64 session id · 32-byte server proof
/// Rejected  u8 reason · u16 message length (at most 1024) · message (UTF-8)
/// </code>
/// </summary>
public static class AuthCodec
{
    public const int NonceLength = 16;
    public const int MacLength = 32;
    public const int MaxRejectMessageLength = 1024;

    public static ushort TypeOf(AuthMessage message) => message switch
    {
        Hello => AuthMessageTypes.Hello,
        Challenge => AuthMessageTypes.Challenge,
        Proof => AuthMessageTypes.Proof,
        Accepted => AuthMessageTypes.Accepted,
        Rejected => AuthMessageTypes.Rejected,
        _ => throw new ArgumentException($"unknown auth message {message.GetType().Name}", nameof(message)),
    };

    public static byte[] Encode(AuthMessage message)
    {
        switch (message)
        {
            case Hello hello:
            {
                byte[] name = Encoding.ASCII.GetBytes(hello.Entity.ToString());
                Require(name.Length is > 0 and <= 255, "entity name length");
                Require(hello.ClientNonce.Length == NonceLength, "client nonce length");
                return [(byte)name.Length, .. name, .. hello.ClientNonce];
            }
            case Challenge challenge:
                Require(challenge.ServerNonce.Length == NonceLength, "server nonce length");
                return [.. challenge.ServerNonce];
            case Proof proof:
                Require(proof.Mac.Length == MacLength, "proof length");
                return [.. proof.Mac];
            case Accepted accepted:
            {
                Require(accepted.ServerProof.Length == MacLength, "server proof length");
                var bytes = new byte[8 + MacLength];
                BinaryPrimitives.WriteUInt64BigEndian(bytes, accepted.SessionId);
                accepted.ServerProof.CopyTo(bytes, 8);
                return bytes;
            }
            case Rejected rejected:
            {
                byte[] text = Encoding.UTF8.GetBytes(rejected.Message);
                if (text.Length > MaxRejectMessageLength)
                    text = text[..MaxRejectMessageLength];
                var bytes = new byte[3 + text.Length];
                bytes[0] = (byte)rejected.Reason;
                BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(1), (ushort)text.Length);
                text.CopyTo(bytes, 3);
                return bytes;
            }
            default:
                throw new ArgumentException($"unknown auth message {message.GetType().Name}", nameof(message));
        }
    }

    /// <summary>Decodes the payload of a frame of type <paramref name="type"/>; a reason on failure.</summary>
    public static bool TryDecode(ushort type, ReadOnlySpan<byte> payload, out AuthMessage message, out string? error)
    {
        message = null!;
        error = null;
        switch (type)
        {
            case AuthMessageTypes.Hello:
            {
                if (payload.Length < 1 || payload[0] == 0 || payload.Length != 1 + payload[0] + NonceLength)
                    return Fail(out error, "hello: bad length");
                string name = Encoding.ASCII.GetString(payload.Slice(1, payload[0]));
                if (!EntityName.TryParse(name, out var entity, out string? nameError))
                    return Fail(out error, "hello: " + nameError);
                message = new Hello(entity, payload[(1 + payload[0])..].ToArray());
                return true;
            }
            case AuthMessageTypes.Challenge:
                if (payload.Length != NonceLength)
                    return Fail(out error, "challenge: bad length");
                message = new Challenge(payload.ToArray());
                return true;
            case AuthMessageTypes.Proof:
                if (payload.Length != MacLength)
                    return Fail(out error, "proof: bad length");
                message = new Proof(payload.ToArray());
                return true;
            case AuthMessageTypes.Accepted:
                if (payload.Length != 8 + MacLength)
                    return Fail(out error, "accepted: bad length");
                message = new Accepted(BinaryPrimitives.ReadUInt64BigEndian(payload), payload[8..].ToArray());
                return true;
            case AuthMessageTypes.Rejected:
            {
                if (payload.Length < 3)
                    return Fail(out error, "rejected: bad length");
                int length = BinaryPrimitives.ReadUInt16BigEndian(payload[1..]);
                if (length > MaxRejectMessageLength || payload.Length != 3 + length)
                    return Fail(out error, "rejected: bad length");
                message = new Rejected((RejectReason)payload[0], Encoding.UTF8.GetString(payload.Slice(3, length)));
                return true;
            }
            default:
                return Fail(out error, $"type 0x{type:x4} is not an auth message");
        }
    }

    private static void Require(bool condition, string what)
    {
        if (!condition)
            throw new ArgumentException($"auth message: bad {what}");
    }

    private static bool Fail(out string? error, string message)
    {
        error = message;
        return false;
    }
}

/// <summary>Frame types 0x0001-0x000F are the handshake; everything else belongs to the services.</summary>
public static class AuthMessageTypes
{
    public const ushort Hello = 0x0001;
    public const ushort Challenge = 0x0002;
    public const ushort Proof = 0x0003;
    public const ushort Accepted = 0x0004;
    public const ushort Rejected = 0x0005;
    public const ushort LastReserved = 0x000F;

    public static bool IsAuth(ushort type) => type is >= 1 and <= LastReserved;
}
