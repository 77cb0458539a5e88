using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;

namespace Rampart.Common.Hashing;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as Ceph, iSCSI and ext4 use it. System.IO.Hashing 10
/// has only the IEEE CRC-32, so this is ours: SSE 4.2 instructions when the CPU has them, a table otherwise.
/// Check value: "123456789" → 0xE3069283.
/// </summary>
public static class Crc32C
{
    private const uint Polynomial = 0x82F63B78;
    private static readonly uint[] Table = BuildTable();

    public static uint Compute(ReadOnlySpan<byte> data) => ~Raw(~0u, data);

    public static uint Compute(in ReadOnlySequence<byte> data)
    {
        uint state = ~0u;
        foreach (var segment in data) state = Raw(state, segment.Span);
        return ~state;
    }

    /// <summary>Continues a CRC: Append(Compute(a), b) == Compute(a ++ b).</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data) => ~Raw(~crc, data);

    /// <summary>The CRC after <paramref name="count"/> zero bytes more (holes in sparse objects).</summary>
    public static uint AppendZeros(uint crc, long count)
    {
        Span<byte> zeros = stackalloc byte[256];
        zeros.Clear();
        for (; count > 0; count -= zeros.Length)
            crc = Append(crc, zeros[..(int)Math.Min(count, zeros.Length)]);
        return crc;
    }

    /// <summary>The table path alone, so tests can check the hardware path against it.</summary>
    public static uint ComputeWithTable(ReadOnlySpan<byte> data) => ~RawTable(~0u, data);

    private static uint Raw(uint state, ReadOnlySpan<byte> data)
    {
        if (!Sse42.IsSupported) return RawTable(state, data);
        if (Sse42.X64.IsSupported)
        {
            ulong wide = state;
            for (; data.Length >= 8; data = data[8..]) wide = Sse42.X64.Crc32(wide, BinaryPrimitives.ReadUInt64LittleEndian(data));
            state = (uint)wide;
        }
        foreach (byte b in data) state = Sse42.Crc32(state, b);
        return state;
    }

    private static uint RawTable(uint state, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) state = Table[(byte)(state ^ b)] ^ (state >> 8);
        return state;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ Polynomial : c >> 1;
            table[i] = c;
        }
        return table;
    }
}
