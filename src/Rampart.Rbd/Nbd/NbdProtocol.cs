using System.Buffers.Binary;
using System.Text;

namespace Rampart.Rbd.Nbd;

// The NBD protocol, fixed newstyle only (NetworkBlockDevice/nbd doc/proto.md: "Fixed newstyle negotiation",
// "Option types", "Option reply types", "Request message", "Simple reply message", "Structured reply chunk message",
// "Metadata contexts", "Error values").
// Everything on the wire is big-endian. Pure functions over spans: no I/O, no clock, no logging.

internal static class NbdMagic
{
    /// <summary>"NBDMAGIC", the first 8 bytes a server sends.</summary>
    public const ulong InitPasswd = 0x4e42444d41474943;

    /// <summary>"IHAVEOPT": newstyle greeting, and the prefix of every client option.</summary>
    public const ulong IHaveOpt = 0x49484156454f5054;

    /// <summary>The "cliserv_magic" an oldstyle server sends instead of IHAVEOPT.</summary>
    public const ulong OldstyleCliserv = 0x00420281861253;

    public const ulong OptionReply = 0x0003e889045565a9;
    public const uint Request = 0x25609513;
    public const uint SimpleReply = 0x67446698;
    public const uint StructuredReply = 0x668e33ef;
}

internal static class NbdLimits
{
    /// <summary>Largest READ/WRITE payload the server accepts, advertised as NBD_INFO_BLOCK_SIZE's maximum.</summary>
    public const int MaxPayload = 32 << 20;

    public const int MinBlock = 1;
    public const int PreferredBlock = 4096;

    /// <summary>The spec caps strings (export names, messages) at 4096 bytes.</summary>
    public const int MaxString = 4096;

    /// <summary>Option data beyond this is not a real client (a name plus a few info requests): the connection is closed.</summary>
    public const int MaxOptionData = 16 << 10;
}

/// <summary>Error values of simple replies; the spec restricts them to this set.</summary>
internal static class NbdErrno
{
    public const uint EPERM = 1, EIO = 5, ENOMEM = 12, EINVAL = 22, ENOSPC = 28, EOVERFLOW = 75, ESHUTDOWN = 108;

    /// <summary>A device's errno when the protocol defines it, EIO otherwise (clients may not know other values).</summary>
    public static uint FromDevice(int errno) => errno switch
    {
        1 or 5 or 12 or 22 or 28 or 75 or 108 => (uint)errno,
        _ => EIO,
    };
}

[Flags]
internal enum NbdHandshakeFlags : ushort
{
    None = 0,
    FixedNewstyle = 1 << 0,
    NoZeroes = 1 << 1,
}

[Flags]
internal enum NbdClientFlags : uint
{
    None = 0,
    FixedNewstyle = 1 << 0,
    NoZeroes = 1 << 1,
}

[Flags]
internal enum NbdTransmissionFlags : ushort
{
    None = 0,
    HasFlags = 1 << 0,
    ReadOnly = 1 << 1,
    SendFlush = 1 << 2,
    SendFua = 1 << 3,
    Rotational = 1 << 4,
    SendTrim = 1 << 5,
    SendWriteZeroes = 1 << 6,
    SendDf = 1 << 7,
    CanMultiConn = 1 << 8,
}

internal enum NbdOption : uint
{
    ExportName = 1,
    Abort = 2,
    List = 3,
    StartTls = 5,
    Info = 6,
    Go = 7,
    StructuredReply = 8,
    ListMetaContext = 9,
    SetMetaContext = 10,
}

internal enum NbdReplyType : uint
{
    Ack = 1,
    Server = 2,
    Info = 3,
    MetaContext = 4,
    ErrUnsup = 0x80000001,
    ErrPolicy = 0x80000002,
    ErrInvalid = 0x80000003,
    ErrPlatform = 0x80000004,
    ErrTlsReqd = 0x80000005,
    ErrUnknown = 0x80000006,
    ErrShutdown = 0x80000007,
    ErrBlockSizeReqd = 0x80000008,
}

internal enum NbdInfoType : ushort
{
    Export = 0,
    Name = 1,
    Description = 2,
    BlockSize = 3,
}

internal enum NbdCommand : ushort
{
    Read = 0,
    Write = 1,
    Disc = 2,
    Flush = 3,
    Trim = 4,
    Cache = 5,
    WriteZeroes = 6,
    BlockStatus = 7,
}

[Flags]
internal enum NbdCommandFlags : ushort
{
    None = 0,
    Fua = 1 << 0,
    NoHole = 1 << 1,
    Df = 1 << 2,
    ReqOne = 1 << 3,
    FastZero = 1 << 4,
}

/// <summary>Why a message was refused; the server counts these and closes the connection.</summary>
internal enum NbdMalformed
{
    None,
    BadMagic,
    UnknownClientFlags,
    TooLong,
    Truncated,
}

/// <summary>S: NBDMAGIC, IHAVEOPT, 16-bit handshake flags ("Newstyle negotiation").</summary>
internal readonly record struct NbdGreeting(NbdHandshakeFlags Flags)
{
    public const int Size = 18;

    public bool TryFormat(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size) return false;
        BinaryPrimitives.WriteUInt64BigEndian(destination, NbdMagic.InitPasswd);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], NbdMagic.IHaveOpt);
        BinaryPrimitives.WriteUInt16BigEndian(destination[16..], (ushort)Flags);
        written = Size;
        return true;
    }

    public static NbdMalformed TryParse(ReadOnlySpan<byte> source, out NbdGreeting greeting)
    {
        greeting = default;
        if (source.Length < Size) return NbdMalformed.Truncated;
        if (BinaryPrimitives.ReadUInt64BigEndian(source) != NbdMagic.InitPasswd
            || BinaryPrimitives.ReadUInt64BigEndian(source[8..]) != NbdMagic.IHaveOpt)
            return NbdMalformed.BadMagic;
        greeting = new NbdGreeting((NbdHandshakeFlags)BinaryPrimitives.ReadUInt16BigEndian(source[16..]));
        return NbdMalformed.None;
    }
}

/// <summary>C: 32-bit client flags; the server must drop clients that set flags it did not offer ("Client flags").</summary>
internal static class NbdClientFlagsCodec
{
    public const int Size = 4;

    public static NbdMalformed TryParse(ReadOnlySpan<byte> source, NbdHandshakeFlags offered, out NbdClientFlags flags)
    {
        flags = NbdClientFlags.None;
        if (source.Length < Size) return NbdMalformed.Truncated;
        uint raw = BinaryPrimitives.ReadUInt32BigEndian(source);
        if ((raw & ~(uint)offered) != 0) return NbdMalformed.UnknownClientFlags;
        flags = (NbdClientFlags)raw;
        return NbdMalformed.None;
    }
}

/// <summary>C: IHAVEOPT, 32-bit option, 32-bit data length; the data follows ("Fixed newstyle negotiation").</summary>
internal readonly record struct NbdOptionHeader(NbdOption Option, uint Length)
{
    public const int Size = 16;

    public bool TryFormat(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size) return false;
        BinaryPrimitives.WriteUInt64BigEndian(destination, NbdMagic.IHaveOpt);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], (uint)Option);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], Length);
        written = Size;
        return true;
    }

    /// <summary>Refuses a wrong magic and data longer than <see cref="NbdLimits.MaxOptionData"/>.</summary>
    public static NbdMalformed TryParse(ReadOnlySpan<byte> source, out NbdOptionHeader header)
    {
        header = default;
        if (source.Length < Size) return NbdMalformed.Truncated;
        if (BinaryPrimitives.ReadUInt64BigEndian(source) != NbdMagic.IHaveOpt) return NbdMalformed.BadMagic;
        header = new NbdOptionHeader((NbdOption)BinaryPrimitives.ReadUInt32BigEndian(source[8..]), BinaryPrimitives.ReadUInt32BigEndian(source[12..]));
        return header.Length > NbdLimits.MaxOptionData ? NbdMalformed.TooLong : NbdMalformed.None;
    }
}

/// <summary>S: reply magic, the option answered, reply type, data length; the data follows.</summary>
internal readonly record struct NbdOptionReplyHeader(NbdOption Option, NbdReplyType Type, uint Length)
{
    public const int Size = 20;

    public bool TryFormat(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size) return false;
        BinaryPrimitives.WriteUInt64BigEndian(destination, NbdMagic.OptionReply);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], (uint)Option);
        BinaryPrimitives.WriteUInt32BigEndian(destination[12..], (uint)Type);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], Length);
        written = Size;
        return true;
    }

    public static NbdMalformed TryParse(ReadOnlySpan<byte> source, out NbdOptionReplyHeader header)
    {
        header = default;
        if (source.Length < Size) return NbdMalformed.Truncated;
        if (BinaryPrimitives.ReadUInt64BigEndian(source) != NbdMagic.OptionReply) return NbdMalformed.BadMagic;
        header = new NbdOptionReplyHeader((NbdOption)BinaryPrimitives.ReadUInt32BigEndian(source[8..]),
            (NbdReplyType)BinaryPrimitives.ReadUInt32BigEndian(source[12..]), BinaryPrimitives.ReadUInt32BigEndian(source[16..]));
        return NbdMalformed.None;
    }
}

/// <summary>
/// The data of NBD_OPT_INFO and NBD_OPT_GO: 32-bit name length, name, 16-bit count, count × 16-bit info types
/// ("NBD_OPT_INFO and NBD_OPT_GO" in the INFO extension, now in proto.md).
/// </summary>
internal sealed record NbdExportInfoRequest(string Name, IReadOnlyList<NbdInfoType> Requests)
{
    public int FormattedLength => 4 + Encoding.UTF8.GetByteCount(Name) + 2 + 2 * Requests.Count;

    public bool TryFormat(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < FormattedLength) return false;
        int nameLength = Encoding.UTF8.GetBytes(Name, destination[4..]);
        BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)nameLength);
        int at = 4 + nameLength;
        BinaryPrimitives.WriteUInt16BigEndian(destination[at..], (ushort)Requests.Count);
        at += 2;
        foreach (var request in Requests)
        {
            BinaryPrimitives.WriteUInt16BigEndian(destination[at..], (ushort)request);
            at += 2;
        }
        written = at;
        return true;
    }

    /// <summary>Null when the lengths disagree with the data or the name is not a valid NBD string.</summary>
    public static NbdExportInfoRequest? TryParse(ReadOnlySpan<byte> data)
    {
        if (data.Length < 4) return null;
        uint nameLength = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (nameLength > NbdLimits.MaxString || nameLength > data.Length - 4 - 2) return null;
        var name = NbdStrings.TryDecode(data.Slice(4, (int)nameLength));
        if (name is null) return null;
        var rest = data[(4 + (int)nameLength)..];
        int count = BinaryPrimitives.ReadUInt16BigEndian(rest);
        if (rest.Length != 2 + 2 * count) return null;
        var requests = new NbdInfoType[count];
        for (int i = 0; i < count; i++) requests[i] = (NbdInfoType)BinaryPrimitives.ReadUInt16BigEndian(rest[(2 + 2 * i)..]);
        return new NbdExportInfoRequest(name, requests);
    }
}

internal static class NbdStrings
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>An NBD string is UTF-8 without NUL, at most 4096 bytes; null otherwise.</summary>
    public static string? TryDecode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > NbdLimits.MaxString || bytes.Contains((byte)0)) return null;
        try { return Strict.GetString(bytes); }
        catch (DecoderFallbackException) { return null; }
    }
}

/// <summary>Payloads of the option replies the server sends.</summary>
internal static class NbdOptionReplies
{
    /// <summary>NBD_REP_SERVER: 32-bit name length, name.</summary>
    public static byte[] Server(string name)
    {
        var bytes = new byte[4 + Encoding.UTF8.GetByteCount(name)];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)(bytes.Length - 4));
        Encoding.UTF8.GetBytes(name, bytes.AsSpan(4));
        return bytes;
    }

    /// <summary>NBD_REP_INFO / NBD_INFO_EXPORT: 16-bit type, 64-bit size, 16-bit transmission flags.</summary>
    public static byte[] InfoExport(ulong size, NbdTransmissionFlags flags)
    {
        var bytes = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)NbdInfoType.Export);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(2), size);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(10), (ushort)flags);
        return bytes;
    }

    /// <summary>NBD_REP_INFO / NBD_INFO_BLOCK_SIZE: 16-bit type, minimum, preferred, maximum (32 bits each).</summary>
    public static byte[] InfoBlockSize(uint minimum, uint preferred, uint maximum)
    {
        var bytes = new byte[14];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)NbdInfoType.BlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(2), minimum);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(6), preferred);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(10), maximum);
        return bytes;
    }

    /// <summary>NBD_REP_INFO / NBD_INFO_NAME or NBD_INFO_DESCRIPTION: 16-bit type, the string to the end.</summary>
    public static byte[] InfoString(NbdInfoType type, string value)
    {
        var bytes = new byte[2 + Encoding.UTF8.GetByteCount(value)];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)type);
        Encoding.UTF8.GetBytes(value, bytes.AsSpan(2));
        return bytes;
    }

    /// <summary>
    /// The reply to NBD_OPT_EXPORT_NAME (not an option reply): 64-bit size, 16-bit transmission flags, then
    /// 124 zero bytes unless the client set NBD_FLAG_C_NO_ZEROES.
    /// </summary>
    public static byte[] ExportName(ulong size, NbdTransmissionFlags flags, bool noZeroes)
    {
        var bytes = new byte[noZeroes ? 10 : 134];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, size);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(8), (ushort)flags);
        return bytes;
    }
}

/// <summary>C: request magic, 16-bit command flags, 16-bit type, 64-bit handle, 64-bit offset, 32-bit length ("Request message").</summary>
internal readonly record struct NbdRequest(NbdCommandFlags Flags, NbdCommand Command, ulong Handle, ulong Offset, uint Length)
{
    public const int Size = 28;

    public bool TryFormat(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size) return false;
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdMagic.Request);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)Flags);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)Command);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Handle);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], Offset);
        BinaryPrimitives.WriteUInt32BigEndian(destination[24..], Length);
        written = Size;
        return true;
    }

    public static NbdMalformed TryParse(ReadOnlySpan<byte> source, out NbdRequest request)
    {
        request = default;
        if (source.Length < Size) return NbdMalformed.Truncated;
        if (BinaryPrimitives.ReadUInt32BigEndian(source) != NbdMagic.Request) return NbdMalformed.BadMagic;
        request = new NbdRequest(
            (NbdCommandFlags)BinaryPrimitives.ReadUInt16BigEndian(source[4..]),
            (NbdCommand)BinaryPrimitives.ReadUInt16BigEndian(source[6..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[16..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[24..]));
        return NbdMalformed.None;
    }
}

/// <summary>S: reply magic, 32-bit error, 64-bit handle; a successful READ's data follows ("Simple reply message").</summary>
internal readonly record struct NbdSimpleReply(uint Error, ulong Handle)
{
    public const int Size = 16;

    public bool TryFormat(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size) return false;
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdMagic.SimpleReply);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], Error);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Handle);
        written = Size;
        return true;
    }

    public static NbdMalformed TryParse(ReadOnlySpan<byte> source, out NbdSimpleReply reply)
    {
        reply = default;
        if (source.Length < Size) return NbdMalformed.Truncated;
        if (BinaryPrimitives.ReadUInt32BigEndian(source) != NbdMagic.SimpleReply) return NbdMalformed.BadMagic;
        reply = new NbdSimpleReply(BinaryPrimitives.ReadUInt32BigEndian(source[4..]), BinaryPrimitives.ReadUInt64BigEndian(source[8..]));
        return NbdMalformed.None;
    }
}

/// <summary>Chunk types of structured replies ("Structured reply types").</summary>
internal enum NbdChunkType : ushort
{
    None = 0,
    OffsetData = 1,
    BlockStatus = 5,
    Error = (1 << 15) + 1,
}

/// <summary>
/// S: reply magic, 16-bit flags (NBD_REPLY_FLAG_DONE on the last chunk), 16-bit chunk type, 64-bit handle, 32-bit
/// payload length; the payload follows ("Structured reply chunk message").
/// </summary>
internal readonly record struct NbdChunkHeader(bool Done, NbdChunkType Type, ulong Handle, uint Length)
{
    public const int Size = 20;

    public bool TryFormat(Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < Size) return false;
        BinaryPrimitives.WriteUInt32BigEndian(destination, NbdMagic.StructuredReply);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)(Done ? 1 : 0));
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)Type);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Handle);
        BinaryPrimitives.WriteUInt32BigEndian(destination[16..], Length);
        written = Size;
        return true;
    }

    public static NbdMalformed TryParse(ReadOnlySpan<byte> source, out NbdChunkHeader header)
    {
        header = default;
        if (source.Length < Size) return NbdMalformed.Truncated;
        if (BinaryPrimitives.ReadUInt32BigEndian(source) != NbdMagic.StructuredReply) return NbdMalformed.BadMagic;
        header = new NbdChunkHeader((BinaryPrimitives.ReadUInt16BigEndian(source[4..]) & 1) != 0, (NbdChunkType)BinaryPrimitives.ReadUInt16BigEndian(source[6..]),
            BinaryPrimitives.ReadUInt64BigEndian(source[8..]), BinaryPrimitives.ReadUInt32BigEndian(source[16..]));
        return NbdMalformed.None;
    }
}

/// <summary>Whole structured replies the server sends (each a single chunk with NBD_REPLY_FLAG_DONE).</summary>
internal static class NbdChunks
{
    /// <summary>Bytes before a READ's data in an NBD_REPLY_TYPE_OFFSET_DATA chunk: the header and the 64-bit offset.</summary>
    public const int OffsetDataPrefix = NbdChunkHeader.Size + 8;

    /// <summary>Formats the header and offset of an OFFSET_DATA chunk into the <see cref="OffsetDataPrefix"/> bytes before its data.</summary>
    public static void FormatOffsetData(Span<byte> prefix, ulong handle, ulong offset, int dataLength)
    {
        new NbdChunkHeader(true, NbdChunkType.OffsetData, handle, (uint)(8 + dataLength)).TryFormat(prefix, out _);
        BinaryPrimitives.WriteUInt64BigEndian(prefix[NbdChunkHeader.Size..], offset);
    }

    /// <summary>NBD_REPLY_TYPE_ERROR: 32-bit error, 16-bit message length (no message).</summary>
    public static byte[] Error(ulong handle, uint error)
    {
        var bytes = new byte[NbdChunkHeader.Size + 6];
        new NbdChunkHeader(true, NbdChunkType.Error, handle, 6).TryFormat(bytes, out _);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(NbdChunkHeader.Size), error);
        return bytes;
    }

    /// <summary>NBD_REPLY_TYPE_BLOCK_STATUS: 32-bit context id, then (32-bit length, 32-bit flags) per extent.</summary>
    public static byte[] BlockStatus(ulong handle, uint contextId, IReadOnlyList<(uint Length, NbdBlockState State)> extents)
    {
        var bytes = new byte[NbdChunkHeader.Size + 4 + 8 * extents.Count];
        new NbdChunkHeader(true, NbdChunkType.BlockStatus, handle, (uint)(bytes.Length - NbdChunkHeader.Size)).TryFormat(bytes, out _);
        var payload = bytes.AsSpan(NbdChunkHeader.Size);
        BinaryPrimitives.WriteUInt32BigEndian(payload, contextId);
        for (int i = 0; i < extents.Count; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(payload[(4 + 8 * i)..], extents[i].Length);
            BinaryPrimitives.WriteUInt32BigEndian(payload[(8 + 8 * i)..], (uint)extents[i].State);
        }
        return bytes;
    }
}

/// <summary>Flags of a "base:allocation" extent ("Metadata contexts"): a hole reads as zeros.</summary>
[Flags]
internal enum NbdBlockState : uint
{
    Data = 0,
    Hole = 1,
    Zero = 2,
}

/// <summary>The one metadata context this server offers.</summary>
internal static class NbdMetaContexts
{
    public const string Allocation = "base:allocation";
    public const uint AllocationId = 1;

    /// <summary>
    /// Whether a LIST or SET query names "base:allocation": exactly, or — LIST only — by the namespace ("base:"); a LIST
    /// with no query at all asks for every context.
    /// </summary>
    public static bool Selects(IReadOnlyList<string> queries, bool list) =>
        (list && queries.Count == 0) || queries.Any(q => q == Allocation || (list && q == "base:"));

    /// <summary>The data of NBD_OPT_LIST/SET_META_CONTEXT: 32-bit export name length, name, 32-bit query count, then
    /// each query as 32-bit length and string. Null when the lengths disagree with the data.</summary>
    public static (string Export, IReadOnlyList<string> Queries)? TryParse(ReadOnlySpan<byte> data)
    {
        if (data.Length < 4) return null;
        uint nameLength = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (nameLength > NbdLimits.MaxString || nameLength > data.Length - 8) return null;
        var name = NbdStrings.TryDecode(data.Slice(4, (int)nameLength));
        if (name is null) return null;
        var rest = data[(4 + (int)nameLength)..];
        uint count = BinaryPrimitives.ReadUInt32BigEndian(rest);
        rest = rest[4..];
        var queries = new List<string>();
        for (uint i = 0; i < count; i++)
        {
            if (rest.Length < 4) return null;
            uint length = BinaryPrimitives.ReadUInt32BigEndian(rest);
            if (length > rest.Length - 4) return null;
            var query = NbdStrings.TryDecode(rest.Slice(4, (int)length));
            if (query is null) return null;
            queries.Add(query);
            rest = rest[(4 + (int)length)..];
        }
        return rest.Length == 0 ? (name, queries) : null;
    }

    /// <summary>
    /// The descriptors of [<paramref name="offset"/>, +<paramref name="length"/>): alternating data and holes (which read
    /// as zeros) from <paramref name="data"/>, the device's sorted data ranges; only the first with <paramref name="one"/>.
    /// </summary>
    public static IReadOnlyList<(uint Length, NbdBlockState State)> Describe(long offset, long length, IReadOnlyList<(long Offset, long Length)> data, bool one)
    {
        var extents = new List<(uint, NbdBlockState)>();
        long position = offset, end = offset + length;
        foreach (var (at, bytes) in data)
        {
            long from = Math.Max(at, position), to = Math.Min(at + bytes, end);
            if (from >= to) continue;
            if (from > position) extents.Add(((uint)(from - position), NbdBlockState.Hole | NbdBlockState.Zero));
            extents.Add(((uint)(to - from), NbdBlockState.Data));
            position = to;
        }
        if (position < end) extents.Add(((uint)(end - position), NbdBlockState.Hole | NbdBlockState.Zero));
        return one ? extents.Take(1).ToList() : extents;
    }

    /// <summary>NBD_REP_META_CONTEXT: 32-bit context id, name.</summary>
    public static byte[] Reply(uint id, string name)
    {
        var bytes = new byte[4 + Encoding.UTF8.GetByteCount(name)];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, id);
        Encoding.UTF8.GetBytes(name, bytes.AsSpan(4));
        return bytes;
    }
}

/// <summary>
/// What the server answers a request with before touching the device: 0 when the request may proceed, else the
/// errno of its simple reply ("Error values", "Request types").
/// </summary>
internal static class NbdRequestCheck
{
    /// <param name="blockStatus">Whether the client selected a metadata context (NBD_CMD_BLOCK_STATUS needs one).</param>
    public static uint Validate(in NbdRequest request, long deviceSize, bool readOnly, bool blockStatus = false)
    {
        var allowedFlags = request.Command switch
        {
            NbdCommand.WriteZeroes => NbdCommandFlags.Fua | NbdCommandFlags.NoHole,
            NbdCommand.BlockStatus => NbdCommandFlags.ReqOne,
            _ => NbdCommandFlags.Fua,
        };
        if ((request.Flags & ~allowedFlags) != 0) return NbdErrno.EINVAL;
        switch (request.Command)
        {
            case NbdCommand.Flush:
                return 0;
            case NbdCommand.BlockStatus:
                if (!blockStatus || request.Length == 0) return NbdErrno.EINVAL;
                break;
            case NbdCommand.Read:
            case NbdCommand.Write:
                if (request.Length == 0 || request.Length > NbdLimits.MaxPayload) return NbdErrno.EINVAL;
                break;
            case NbdCommand.Trim:
            case NbdCommand.WriteZeroes:
                // No payload travels with these, so the 32 MiB cap does not apply.
                if (request.Length == 0) return NbdErrno.EINVAL;
                break;
            default:
                return NbdErrno.EINVAL;
        }
        bool writes = request.Command is not (NbdCommand.Read or NbdCommand.BlockStatus);
        if (writes && readOnly) return NbdErrno.EPERM;
        if (request.Offset > (ulong)deviceSize || request.Length > (ulong)deviceSize - request.Offset)
            // The spec asks for ENOSPC on writes past the end; reads and trims of a range that does not exist are invalid.
            return request.Command is NbdCommand.Write or NbdCommand.WriteZeroes ? NbdErrno.ENOSPC : NbdErrno.EINVAL;
        return 0;
    }
}
