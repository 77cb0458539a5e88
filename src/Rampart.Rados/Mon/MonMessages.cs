using System.Buffers.Binary;
using System.Text;

namespace Rampart.Rados.Mon;

/// <summary>
/// The monitor protocol: request types on an authenticated <see cref="Messaging.Connection"/> to a
/// monitor's mon_addr. A refused request (caps, bad payload, no quorum) comes back as an error frame
/// whose text is a one-line "Error E…: …".
/// <code>
/// type    name        request payload                 response payload              needs
/// 0x0100  GetMap      empty                           ClusterMapCodec bytes         mon r
///                     (served after a Raft read barrier: never older than the last commit)
/// 0x0101  Command     MonCommandCodec bytes           CommandReply                  mon w (rw or *)
///                     (a follower does not forward: it answers Redirect with the leader's mon_addr,
///                     and the client retries there)
/// 0x0102  Subscribe   u64 epoch (big-endian)          empty                         mon r
///                     (then the monitor sends MapPush requests on the same connection for every
///                     map newer than the epoch, the current one first if it already is)
/// 0x0103  MapPush     ClusterMapCodec bytes           empty (monitor → subscriber)  —
/// 0x0104  Leader      empty                           UTF-8 name of the leader monitor, "" during an election   mon r
/// 0x0105  AuthList    empty                           the auth database as keyring text   mon *
/// </code>
/// </summary>
public static class MonMessages
{
    public const ushort GetMap = 0x0100;
    public const ushort Command = 0x0101;
    public const ushort Subscribe = 0x0102;
    public const ushort MapPush = 0x0103;
    public const ushort Leader = 0x0104;
    public const ushort AuthList = 0x0105;

    public static byte[] EncodeEpoch(long epoch)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, epoch);
        return bytes;
    }

    public static long DecodeEpoch(ReadOnlySpan<byte> payload) =>
        payload.Length == 8 ? BinaryPrimitives.ReadInt64BigEndian(payload) : throw new FormatException($"Error EINVAL: subscribe payload is {payload.Length} bytes, expected 8");
}

/// <summary>Answer to a Command: the command's result, or "ask the leader" (its mon_addr; null during an election).</summary>
public sealed record CommandReply(MonResult? Result, string? Redirect)
{
    public static CommandReply Of(MonResult result) => new(result, null);

    public static CommandReply RedirectTo(string? leader) => new(null, leader);

    // Wire: kind byte (0 result, 1 redirect); result: success byte, message, has-output byte, output;
    // redirect: address ("" = unknown). Strings are u16 big-endian length + UTF-8.
    public byte[] Encode()
    {
        using var stream = new MemoryStream();
        if (Result is { } r)
        {
            stream.WriteByte(0);
            stream.WriteByte(r.Success ? (byte)1 : (byte)0);
            WriteString(stream, r.Message);
            stream.WriteByte(r.Output is null ? (byte)0 : (byte)1);
            WriteString(stream, r.Output ?? "");
        }
        else
        {
            stream.WriteByte(1);
            WriteString(stream, Redirect ?? "");
        }
        return stream.ToArray();
    }

    public static CommandReply Decode(ReadOnlySpan<byte> bytes)
    {
        int at = 0;
        byte kind = Byte(bytes, ref at);
        if (kind == 1)
        {
            string leader = ReadString(bytes, ref at);
            return RedirectTo(leader.Length == 0 ? null : leader);
        }
        if (kind != 0)
            throw new FormatException($"command reply: unknown kind {kind}");
        bool success = Byte(bytes, ref at) == 1;
        string message = ReadString(bytes, ref at);
        bool hasOutput = Byte(bytes, ref at) == 1;
        string output = ReadString(bytes, ref at);
        return Of(new MonResult(success, message, hasOutput ? output : null));
    }

    private static void WriteString(MemoryStream stream, string text)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(text);
        if (utf8.Length > ushort.MaxValue)
            throw new ArgumentException("command reply: string longer than 65535 bytes", nameof(text));
        Span<byte> length = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)utf8.Length);
        stream.Write(length);
        stream.Write(utf8);
    }

    private static byte Byte(ReadOnlySpan<byte> bytes, ref int at) =>
        at < bytes.Length ? bytes[at++] : throw new FormatException("command reply: truncated");

    private static string ReadString(ReadOnlySpan<byte> bytes, ref int at)
    {
        if (at + 2 > bytes.Length)
            throw new FormatException("command reply: truncated");
        int length = BinaryPrimitives.ReadUInt16BigEndian(bytes[at..]);
        at += 2;
        if (at + length > bytes.Length)
            throw new FormatException("command reply: truncated string");
        string text = Encoding.UTF8.GetString(bytes.Slice(at, length));
        at += length;
        return text;
    }
}
