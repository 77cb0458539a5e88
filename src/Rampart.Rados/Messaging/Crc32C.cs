using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;

namespace Rampart.Rados.Messaging;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by Ceph, iSCSI and ext4.
/// System.IO.Hashing 10 only has the IEEE CRC-32, so this is ours: SSE 4.2 when the CPU has it,
/// a table otherwise. Check value: "123456789" → 0xE3069283.
/// </summary>
public static class Crc32C
{
    private const uint Polynomial = 0x82F63B78;
    private static readonly uint[] Table = BuildTable();

    /// <summary>The CRC of <paramref name="data"/> (initial value and final xor 0xFFFFFFFF).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Append(~0u, data);

    /// <summary>The CRC of a possibly multi-segment buffer.</summary>
    public static uint Compute(in System.Buffers.ReadOnlySequence<byte> data)
    {
        if (data.IsSingleSegment)
            return Compute(data.FirstSpan);
        uint state = ~0u;
        foreach (var segment in data)
            state = Append(state, segment.Span);
        return ~state;
    }

    /// <summary>Continues a raw (not inverted) CRC state; start with 0xFFFFFFFF and invert at the end.</summary>
    internal static uint Append(uint state, ReadOnlySpan<byte> data) =>
        Sse42.X64.IsSupported ? AppendSse64(state, data)
        : Sse42.IsSupported ? AppendSse32(state, data)
        : AppendSoftware(state, data);

    internal static uint AppendSoftware(uint state, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
            state = Table[(byte)(state ^ b)] ^ (state >> 8);
        return state;
    }

    private static uint AppendSse64(uint state, ReadOnlySpan<byte> data)
    {
        ulong crc = state;
        while (data.Length >= 8)
        {
            crc = Sse42.X64.Crc32(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        uint result = (uint)crc;
        foreach (byte b in data)
            result = Sse42.Crc32(result, b);
        return result;
    }

    private static uint AppendSse32(uint state, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 4)
        {
            state = Sse42.Crc32(state, BinaryPrimitives.ReadUInt32LittleEndian(data));
            data = data[4..];
        }
        foreach (byte b in data)
            state = Sse42.Crc32(state, b);
        return state;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) != 0 ? (c >> 1) ^ Polynomial : c >> 1;
            table[i] = c;
        }
        return table;
    }
}
