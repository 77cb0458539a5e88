using Rampart.Common.Hashing;
using System.Buffers;
using System.Text;
using Rampart.Rados.Messaging;

namespace Rampart.Rados.Tests.Messaging;

public class FrameTests
{
    private static byte[] Encode(ushort type, ulong tid, byte[] payload, FrameFlags flags = FrameFlags.None)
    {
        var output = new ArrayBufferWriter<byte>();
        FrameWriter.Write(output, type, tid, payload, flags);
        return output.WrittenSpan.ToArray();
    }

    [Fact]
    public void Crc32C_CheckValue()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));
        Assert.Equal(0xE3069283u, Crc32C.ComputeWithTable("123456789"u8));
        var data = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray();
        for (int n = 0; n < 40; n++)
            Assert.Equal(Crc32C.ComputeWithTable(data.AsSpan(0, n)), Crc32C.Compute(data.AsSpan(0, n)));
    }

    [Fact]
    public void Write_GoldenBytes()
    {
        byte[] bytes = Encode(0x0102, 0x0A0B0C0D0E0F1011, "ping"u8.ToArray(), FrameFlags.Response);
        // magic flags type tid length payload-crc(crc32c "ping") header-crc, payload; CRCs computed
        // independently (bitwise CRC-32C in Python).
        string payloadCrc = Crc32C.Compute("ping"u8).ToString("X8");
        Assert.Equal("A1" + "01" + "0102" + "0A0B0C0D0E0F1011" + "00000004" + payloadCrc,
            Convert.ToHexString(bytes, 0, 20));
        Assert.Equal("A10101020A0B0C0D0E0F101100000004A7FA26E5A11278AB70696E67", Convert.ToHexString(bytes));
    }

    [Fact]
    public void RoundTrip_AndTryFormat_Agree()
    {
        byte[] payload = Encoding.UTF8.GetBytes("hello rados");
        byte[] bytes = Encode(0x20, 7, payload);
        var frame = new Frame(0x20, FrameFlags.None, 7, payload);
        var formatted = new byte[frame.Length];
        Assert.True(frame.TryFormat(formatted, out int written));
        Assert.Equal(bytes, formatted[..written]);
        Assert.False(frame.TryFormat(new byte[frame.Length - 1], out _));

        var buffer = new ReadOnlySequence<byte>([.. bytes, .. Encode(0x21, 8, [])]);
        var reader = new FrameReader();
        Assert.True(reader.TryRead(ref buffer, out var first, out var error));
        Assert.Null(error);
        Assert.Equal((0x20, 7ul, FrameFlags.None), (first.Type, first.Tid, first.Flags));
        Assert.Equal(payload, first.Payload.ToArray());
        Assert.True(reader.TryRead(ref buffer, out var second, out _));
        Assert.Equal((0x21, 8ul, 0), (second.Type, second.Tid, second.Payload.Length));
        Assert.True(buffer.IsEmpty);
        Assert.False(reader.TryRead(ref buffer, out _, out error));
        Assert.Null(error);
    }

    [Fact]
    public void SplitAtEveryByte_NeedsMoreBytes_ThenReads()
    {
        byte[] bytes = Encode(0x30, 99, Enumerable.Range(0, 100).Select(i => (byte)i).ToArray());
        var reader = new FrameReader();
        for (int cut = 0; cut < bytes.Length; cut++)
        {
            var partial = new ReadOnlySequence<byte>(bytes, 0, cut);
            Assert.False(reader.TryRead(ref partial, out _, out var error));
            Assert.Null(error);
            Assert.Equal(cut, partial.Length);

            // Same bytes in two segments split at the cut: still one frame.
            var split = TwoSegments(bytes, cut);
            Assert.True(reader.TryRead(ref split, out var frame, out error));
            Assert.Equal(99ul, frame.Tid);
            Assert.True(split.IsEmpty);
        }
    }

    [Fact]
    public void Rejects_BadMagic_AtFirstByte()
    {
        var buffer = new ReadOnlySequence<byte>("G"u8.ToArray());
        Assert.False(new FrameReader().TryRead(ref buffer, out _, out var error));
        Assert.Equal(FrameError.BadMagic, error);
    }

    [Fact]
    public void Rejects_BadHeaderCrc_And_BadPayloadCrc()
    {
        byte[] bytes = Encode(0x30, 1, "data"u8.ToArray());
        var header = (byte[])bytes.Clone();
        header[5] ^= 0x40;
        var buffer = new ReadOnlySequence<byte>(header);
        Assert.False(new FrameReader().TryRead(ref buffer, out _, out var error));
        Assert.Equal(FrameError.BadHeaderCrc, error);

        var payload = (byte[])bytes.Clone();
        payload[^1] ^= 0x01;
        buffer = new ReadOnlySequence<byte>(payload);
        Assert.False(new FrameReader().TryRead(ref buffer, out _, out error));
        Assert.Equal(FrameError.BadPayloadCrc, error);
    }

    [Fact]
    public void Rejects_Oversized_BeforePayloadArrives()
    {
        byte[] bytes = Encode(0x30, 1, new byte[1025]);
        var buffer = new ReadOnlySequence<byte>(bytes, 0, Frame.HeaderLength);
        Assert.False(new FrameReader(maxPayloadLength: 1024).TryRead(ref buffer, out _, out var error));
        Assert.Equal(FrameError.TooLarge, error);
    }

    [Fact]
    public void RandomBytes_NeverThrow()
    {
        var random = new Random(12345);
        var reader = new FrameReader(4096);
        var valid = Encode(0x40, 5, new byte[10]);
        for (int i = 0; i < 20000; i++)
        {
            var bytes = new byte[random.Next(0, 64)];
            random.NextBytes(bytes);
            if (i % 2 == 0 && bytes.Length > 0)
                bytes[0] = Frame.Magic;
            if (i % 5 == 0)
            {
                bytes = [.. valid];
                bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
            }
            var buffer = new ReadOnlySequence<byte>(bytes);
            while (reader.TryRead(ref buffer, out _, out _))
            {
            }
        }
    }

    private static ReadOnlySequence<byte> TwoSegments(byte[] bytes, int cut)
    {
        var first = new Segment(bytes.AsMemory(0, cut), 0);
        var last = first.Append(bytes.AsMemory(cut));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
