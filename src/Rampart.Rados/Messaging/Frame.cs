using Rampart.Common.Hashing;
using System.Buffers;
using System.Buffers.Binary;

namespace Rampart.Rados.Messaging;

[Flags]
public enum FrameFlags : byte
{
    None = 0,
    /// <summary>The frame answers the request with the same tid.</summary>
    Response = 1,
    /// <summary>A response whose payload is a UTF-8 error message instead of a result.</summary>
    Error = 2,
}

/// <summary>Why a frame was refused. The connection that sent it is closed and the error counted.</summary>
public enum FrameError
{
    BadMagic,
    BadHeaderCrc,
    TooLarge,
    BadPayloadCrc,
}

/// <summary>
/// One message on a Rampart connection. Wire format (big-endian), 24-byte header then the payload:
/// <code>
///  0  u8   magic/version  0xA1 (magic 0xA, version 1)
///  1  u8   flags          FrameFlags
///  2  u16  type           MessageTypes
///  4  u64  tid            transaction id; a response carries its request's tid
/// 12  u32  length         payload bytes, at most the reader's cap (64 MiB by default)
/// 16  u32  payload CRC-32C
/// 20  u32  header CRC-32C of bytes 0..19
/// 24  payload
/// </code>
/// </summary>
public readonly record struct Frame(ushort Type, FrameFlags Flags, ulong Tid, ReadOnlyMemory<byte> Payload)
{
    public const byte Magic = 0xA1;
    public const int HeaderLength = 24;
    public const int DefaultMaxPayloadLength = 64 * 1024 * 1024;

    public bool IsResponse => (Flags & FrameFlags.Response) != 0;
    public bool IsError => (Flags & FrameFlags.Error) != 0;

    public int Length => HeaderLength + Payload.Length;

    /// <summary>Writes header and payload; false (nothing meaningful written) when <paramref name="destination"/> is too small.</summary>
    public bool TryFormat(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Length)
            return false;
        WriteHeader(destination, Type, Flags, Tid, Payload.Span);
        Payload.Span.CopyTo(destination[HeaderLength..]);
        written = Length;
        return true;
    }

    internal static void WriteHeader(Span<byte> header, ushort type, FrameFlags flags, ulong tid, ReadOnlySpan<byte> payload)
    {
        header[0] = Magic;
        header[1] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], type);
        BinaryPrimitives.WriteUInt64BigEndian(header[4..], tid);
        BinaryPrimitives.WriteUInt32BigEndian(header[12..], (uint)payload.Length);
        BinaryPrimitives.WriteUInt32BigEndian(header[16..], Crc32C.Compute(payload));
        BinaryPrimitives.WriteUInt32BigEndian(header[20..], Crc32C.Compute(header[..20]));
    }
}

/// <summary>Writes frames into a pipe or any buffer writer.</summary>
public static class FrameWriter
{
    public static void Write(IBufferWriter<byte> output, ushort type, ulong tid, ReadOnlySpan<byte> payload, FrameFlags flags = FrameFlags.None)
    {
        int length = Frame.HeaderLength + payload.Length;
        Span<byte> span = output.GetSpan(Math.Min(length, 64 * 1024));
        if (span.Length >= length)
        {
            Frame.WriteHeader(span, type, flags, tid, payload);
            payload.CopyTo(span[Frame.HeaderLength..]);
            output.Advance(length);
            return;
        }
        Span<byte> header = stackalloc byte[Frame.HeaderLength];
        Frame.WriteHeader(header, type, flags, tid, payload);
        output.Write(header);
        output.Write(payload);
    }

    public static void Write(IBufferWriter<byte> output, in Frame frame) =>
        Write(output, frame.Type, frame.Tid, frame.Payload.Span, frame.Flags);
}

/// <summary>
/// Reads frames (format in <see cref="Frame"/>) from a stream buffer. Too few bytes is not an error:
/// it returns false with no error and leaves the buffer alone. The magic is checked from the first byte,
/// so garbage is refused without waiting for a full header.
/// </summary>
public sealed class FrameReader(int maxPayloadLength = Frame.DefaultMaxPayloadLength)
{
    public int MaxPayloadLength { get; } = maxPayloadLength > 0 ? maxPayloadLength
        : throw new ArgumentOutOfRangeException(nameof(maxPayloadLength), "must be positive");

    /// <summary>
    /// On success, <paramref name="buffer"/> is advanced past the frame and the payload is copied out.
    /// On an error, the stream cannot be resynchronised: the caller closes the connection.
    /// </summary>
    public bool TryRead(ref ReadOnlySequence<byte> buffer, out Frame frame, out FrameError? error)
    {
        frame = default;
        error = null;
        if (buffer.IsEmpty)
            return false;
        byte first = buffer.FirstSpan.Length > 0 ? buffer.FirstSpan[0] : FirstByte(buffer);
        if (first != Frame.Magic)
        {
            error = FrameError.BadMagic;
            return false;
        }
        if (buffer.Length < Frame.HeaderLength)
            return false;

        Span<byte> header = stackalloc byte[Frame.HeaderLength];
        buffer.Slice(0, Frame.HeaderLength).CopyTo(header);
        if (BinaryPrimitives.ReadUInt32BigEndian(header[20..]) != Crc32C.Compute(header[..20]))
        {
            error = FrameError.BadHeaderCrc;
            return false;
        }
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header[12..]);
        if (length > (uint)MaxPayloadLength)
        {
            error = FrameError.TooLarge;
            return false;
        }
        if (buffer.Length - Frame.HeaderLength < length)
            return false;

        var payload = buffer.Slice(Frame.HeaderLength, length);
        if (BinaryPrimitives.ReadUInt32BigEndian(header[16..]) != Crc32C.Compute(payload))
        {
            error = FrameError.BadPayloadCrc;
            return false;
        }
        frame = new Frame(
            BinaryPrimitives.ReadUInt16BigEndian(header[2..]),
            (FrameFlags)header[1],
            BinaryPrimitives.ReadUInt64BigEndian(header[4..]),
            payload.ToArray());
        buffer = buffer.Slice(payload.End);
        return true;
    }

    private static byte FirstByte(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> one = stackalloc byte[1];
        buffer.Slice(0, 1).CopyTo(one);
        return one[0];
    }
}
