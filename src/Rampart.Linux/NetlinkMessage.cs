using System.Buffers.Binary;
using System.Text;

namespace Rampart.Linux;

/// <summary>Builds one rtnetlink request: nlmsghdr, a fixed family header, then rtattrs (all 4-byte aligned, host order).</summary>
internal sealed class NetlinkMessageBuilder
{
    private readonly List<byte> _bytes = new(128);

    public ushort Flags { get; }

    public NetlinkMessageBuilder(ushort type, ushort flags)
    {
        Flags = flags;
        _bytes.AddRange(new byte[16]);
        BinaryPrimitives.WriteUInt16LittleEndian(Span(4, 2), type);
        BinaryPrimitives.WriteUInt16LittleEndian(Span(6, 2), flags);
    }

    private Span<byte> Span(int offset, int length) => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_bytes).Slice(offset, length);

    public NetlinkMessageBuilder Header(ReadOnlySpan<byte> familyHeader)
    {
        _bytes.AddRange(familyHeader.ToArray());
        Pad();
        return this;
    }

    public NetlinkMessageBuilder Attribute(ushort type, ReadOnlySpan<byte> value)
    {
        var header = new byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(2), type);
        _bytes.AddRange(header);
        _bytes.AddRange(value.ToArray());
        Pad();
        return this;
    }

    public NetlinkMessageBuilder Attribute(ushort type, string value) => Attribute(type, Encoding.ASCII.GetBytes(value + "\0"));

    public NetlinkMessageBuilder Attribute(ushort type, uint value)
    {
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(v, value);
        return Attribute(type, v);
    }

    private void Pad()
    {
        while (_bytes.Count % 4 != 0) _bytes.Add(0);
    }

    public byte[] Build(uint sequence)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(Span(0, 4), (uint)_bytes.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(Span(8, 4), sequence);
        return _bytes.ToArray();
    }
}

/// <summary>One received netlink message: type, flags, sequence and its body (after nlmsghdr).</summary>
internal readonly record struct NetlinkMessage(ushort Type, ushort Flags, uint Sequence, ReadOnlyMemory<byte> Body)
{
    public const ushort Error = 2, Done = 3, Overrun = 4;

    /// <summary>Splits a datagram into messages; stops at the first truncated one.</summary>
    public static List<NetlinkMessage> Parse(ReadOnlyMemory<byte> datagram)
    {
        var list = new List<NetlinkMessage>();
        int offset = 0;
        var span = datagram.Span;
        while (offset + 16 <= span.Length)
        {
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(span[offset..]);
            if (length < 16 || offset + length > span.Length) break;
            list.Add(new NetlinkMessage(
                BinaryPrimitives.ReadUInt16LittleEndian(span[(offset + 4)..]),
                BinaryPrimitives.ReadUInt16LittleEndian(span[(offset + 6)..]),
                BinaryPrimitives.ReadUInt32LittleEndian(span[(offset + 8)..]),
                datagram.Slice(offset + 16, (int)length - 16)));
            offset += (int)((length + 3) & ~3u);
        }
        return list;
    }

    /// <summary>rtattrs after a fixed header of <paramref name="headerLength"/> bytes: type → value (later duplicates ignored).</summary>
    public Dictionary<ushort, ReadOnlyMemory<byte>> Attributes(int headerLength)
    {
        var result = new Dictionary<ushort, ReadOnlyMemory<byte>>();
        int offset = (headerLength + 3) & ~3;
        var span = Body.Span;
        while (offset + 4 <= span.Length)
        {
            ushort length = BinaryPrimitives.ReadUInt16LittleEndian(span[offset..]);
            ushort type = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(span[(offset + 2)..]) & 0x3FFF);
            if (length < 4 || offset + length > span.Length) break;
            result.TryAdd(type, Body.Slice(offset + 4, length - 4));
            offset += (length + 3) & ~3;
        }
        return result;
    }

    /// <summary>For NLMSG_ERROR: the positive errno (0 = ACK).</summary>
    public int ErrorNumber => -BinaryPrimitives.ReadInt32LittleEndian(Body.Span);

    public static string AttributeString(ReadOnlyMemory<byte> value)
    {
        var span = value.Span;
        int end = span.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? span : span[..end]);
    }
}
