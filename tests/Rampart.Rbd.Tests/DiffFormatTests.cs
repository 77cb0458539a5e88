using Rampart.Rbd.Diff;

namespace Rampart.Rbd.Tests;

public sealed class DiffFormatTests
{
    private static async Task<byte[]> EncodeAsync(params DiffRecord[] records)
    {
        using var stream = new MemoryStream();
        await DiffFormat.WriteHeaderAsync(stream, default);
        foreach (var r in records) await DiffFormat.WriteAsync(stream, r, default);
        return stream.ToArray();
    }

    private static async Task<List<DiffRecord>> DecodeAsync(byte[] bytes)
    {
        var list = new List<DiffRecord>();
        await foreach (var r in DiffFormat.ReadAsync(new MemoryStream(bytes))) list.Add(r);
        return list;
    }

    [Fact]
    public async Task Records_have_cephs_rbd_diff_v1_layout()
    {
        var bytes = await EncodeAsync(new DiffRecord.FromSnap("a"), new DiffRecord.Size(4096), new DiffRecord.Data(512, [0xAB, 0xCD]), new DiffRecord.Zero(1024, 7), new DiffRecord.End());
        byte[] expected =
        [
            .. "rbd diff v1\n"u8,
            (byte)'f', 1, 0, 0, 0, (byte)'a',
            (byte)'s', 0, 0x10, 0, 0, 0, 0, 0, 0,
            (byte)'w', 0, 2, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0xAB, 0xCD,
            (byte)'z', 0, 4, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0,
            (byte)'e',
        ];
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public async Task A_stream_reads_back_record_for_record()
    {
        DiffRecord[] records = [new DiffRecord.FromSnap("s1"), new DiffRecord.ToSnap("s2"), new DiffRecord.Size(1 << 20), new DiffRecord.Zero(0, 4096), new DiffRecord.End()];
        var back = await DecodeAsync(await EncodeAsync(records));
        Assert.Equal(records, back);
        var data = (DiffRecord.Data)(await DecodeAsync(await EncodeAsync(new DiffRecord.Data(9, [1, 2, 3]), new DiffRecord.End())))[0];
        Assert.Equal(9L, data.Offset);
        Assert.Equal([1, 2, 3], data.Bytes);
    }

    [Fact]
    public async Task Every_truncation_is_a_clear_error()
    {
        var bytes = await EncodeAsync(new DiffRecord.FromSnap("snap"), new DiffRecord.Size(8192), new DiffRecord.Data(0, new byte[100]), new DiffRecord.Zero(100, 50), new DiffRecord.End());
        for (int cut = 0; cut < bytes.Length; cut++)
        {
            var e = await Assert.ThrowsAsync<FormatException>(() => DecodeAsync(bytes[..cut]));
            Assert.StartsWith("Error EINVAL", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Foreign_or_malformed_streams_are_refused()
    {
        var foreign = await Assert.ThrowsAsync<FormatException>(() => DecodeAsync("QFI\xfb plus some qcow2 bytes"u8.ToArray()));
        Assert.Contains("not an rbd diff", foreign.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<FormatException>(() => DecodeAsync([.. DiffFormat.Header, (byte)'q']));
        var late = await EncodeAsync(new DiffRecord.Zero(0, 1), new DiffRecord.Size(5), new DiffRecord.End());
        Assert.Contains("after data", (await Assert.ThrowsAsync<FormatException>(() => DecodeAsync(late))).Message, StringComparison.Ordinal);
        var negative = await EncodeAsync(new DiffRecord.Zero(-5, 1), new DiffRecord.End());
        await Assert.ThrowsAsync<FormatException>(() => DecodeAsync(negative));
        var huge = await EncodeAsync(new DiffRecord.End());
        byte[] oversized = [.. DiffFormat.Header, (byte)'w', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0];
        Assert.Contains("bad extent", (await Assert.ThrowsAsync<FormatException>(() => DecodeAsync(oversized))).Message, StringComparison.Ordinal);
        Assert.Single(await DecodeAsync(huge));
    }
}
