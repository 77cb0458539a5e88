using Rampart.Rados.Osd;
using Rampart.Rados.Osd.Store;
using Rampart.Rados.Placement;

namespace Rampart.Rados.Tests.Osd;

public sealed class OsdCodecTests
{
    private static byte[] Data(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>A client op using every field: data, offsets, keys, omap pairs (empty value too), a cursor, snaps, a read snap.</summary>
    private static OpRequest SampleOp(ulong? readSnap = 4) => new(
        PoolId: 3,
        Seed: 0x1f,
        Object: "rbd_data.1234.0000000000000007\0é",
        Epoch: 42,
        ReqId: "client.4107:99",
        Snaps: new SnapContext(9, [9, 4, 2]),
        ReadSnap: readSnap,
        Ops:
        [
            ObjectOp.Write(4096, Data(300, 1)),
            ObjectOp.Read(17, 8192),
            ObjectOp.Truncate(123_456_789_012),
            ObjectOp.OmapSet([new("k1", [1, 2, 3]), new("", []), new("ключ", Data(40, 2))]),
            ObjectOp.OmapGet(["k1", "", "missing"]),
            ObjectOp.OmapList("k0", 100),
            ObjectOp.List("", 7),
            ObjectOp.Stat(),
        ]);

    private static RepOpRequest SampleRepOp(bool withInfo, bool withTrim) => new(
        new PgId(7, 0xabcdef01),
        Epoch: 1234,
        new PgLogEntry(new PgVersion(1234, 5678), PgLogOp.Delete, "obj\0name", "client.9:1", new PgVersion(1200, 5000)),
        new SnapContext(3, [3, 1]),
        MTimeTicks: new DateTimeOffset(2025, 3, 4, 5, 6, 7, TimeSpan.Zero).UtcTicks,
        [ObjectOp.WriteFull(Data(1000, 3)), ObjectOp.OmapRemove(["a", "b"]), ObjectOp.OmapClear(), ObjectOp.Create(), ObjectOp.Remove()],
        withInfo ? new PgInfo(1200, [4, 0, 9], new PgVersion(1100, 4000), Complete: false) : null,
        withTrim ? new PgVersion(1100, 4001) : null);

    private static void AssertSameOp(ObjectOp expected, ObjectOp actual)
    {
        Assert.Equal(expected.Code, actual.Code);
        Assert.Equal(expected.Offset, actual.Offset);
        Assert.Equal(expected.Length, actual.Length);
        Assert.Equal(expected.Data.ToArray(), actual.Data.ToArray());
        Assert.Equal(expected.After, actual.After);
        Assert.Equal(expected.Keys, actual.Keys);
        Assert.Equal(expected.Pairs.Select(p => p.Key), actual.Pairs.Select(p => p.Key));
        Assert.Equal(expected.Pairs.Select(p => p.Value), actual.Pairs.Select(p => p.Value));
    }

    private static void AssertSameOps(IReadOnlyList<ObjectOp> expected, IReadOnlyList<ObjectOp> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++) AssertSameOp(expected[i], actual[i]);
    }

    private static void AssertSameSnaps(SnapContext expected, SnapContext actual)
    {
        Assert.Equal(expected.Seq, actual.Seq);
        Assert.Equal(expected.Snaps, actual.Snaps);
    }

    private static void AssertSameInfo(PgInfo expected, PgInfo actual)
    {
        Assert.Equal(expected.LastEpochStarted, actual.LastEpochStarted);
        Assert.Equal(expected.ActingAtStart, actual.ActingAtStart);
        Assert.Equal(expected.Tail, actual.Tail);
        Assert.Equal(expected.Complete, actual.Complete);
    }

    // ---------------------------------------------------------------- round trips

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void OpRequest_round_trips_every_field(bool withReadSnap)
    {
        var op = SampleOp(withReadSnap ? 4 : null);
        var back = OpRequest.Decode(op.Encode());
        Assert.Equal((op.PoolId, op.Seed, op.Object, op.Epoch, op.ReqId), (back.PoolId, back.Seed, back.Object, back.Epoch, back.ReqId));
        Assert.Equal(new PgId(3, 0x1f), back.Pg);
        AssertSameSnaps(op.Snaps, back.Snaps);
        Assert.Equal(op.ReadSnap, back.ReadSnap);
        AssertSameOps(op.Ops, back.Ops);
        Assert.True(back.IsWrite);
    }

    [Fact]
    public void OpRequest_read_snap_zero_is_not_head_and_null_cursor_stays_null()
    {
        var op = new OpRequest(1, 0, "o", 1, "", SnapContext.Empty, 0, [ObjectOp.OmapList(null, 5), ObjectOp.Read(0, 0)]);
        var back = OpRequest.Decode(op.Encode());
        Assert.Equal(0UL, back.ReadSnap);
        Assert.Null(back.Ops[0].After);
        Assert.Equal("", back.ReqId);
        Assert.Empty(back.Snaps.Snaps);
        Assert.Equal(0UL, back.Snaps.Seq);
        Assert.False(back.IsWrite);
        AssertSameOps(op.Ops, back.Ops);
    }

    [Fact]
    public void OpRequest_with_no_steps_is_refused()
    {
        var bytes = new OpRequest(1, 0, "o", 1, "r", SnapContext.Empty, null, []).Encode();
        var e = Assert.Throws<FormatException>(() => OpRequest.Decode(bytes));
        Assert.StartsWith("Error EINVAL", e.Message);
    }

    [Fact]
    public void OpRequest_with_an_unknown_op_code_or_negative_offset_is_refused()
    {
        var bytes = new OpRequest(1, 0, "o", 1, "r", SnapContext.Empty, null, [ObjectOp.Stat()]).Encode();
        int codeAt = 8 + 4 + (4 + 1) + 8 + (4 + 1) + 8 + 4 + 1 + 8 + 1 + 8 + 4; // pool seed name epoch reqid seq snaps hasSnap snap hasGuard guard count
        Assert.Equal((byte)OpCode.Stat, bytes[codeAt]);
        var bad = (byte[])bytes.Clone();
        bad[codeAt] = 0xEE;
        Assert.Throws<FormatException>(() => OpRequest.Decode(bad));

        bad = (byte[])bytes.Clone();
        bad[codeAt + 1] = 0x80; // offset's sign bit
        Assert.Throws<FormatException>(() => OpRequest.Decode(bad));
    }

    [Fact]
    public void OpRequest_with_trailing_bytes_is_refused()
    {
        var bytes = SampleOp().Encode();
        Assert.Throws<FormatException>(() => OpRequest.Decode([.. bytes, 0]));
    }

    [Fact]
    public void OpReply_round_trips_every_field()
    {
        var mtime = new DateTimeOffset(2024, 12, 31, 23, 59, 58, TimeSpan.Zero).AddTicks(1234567);
        var reply = new OpReply(77, new PgVersion(70, 123_456_789_012), [
            new OpResult { Data = Data(5000, 4) },
            new OpResult { Stat = new ObjectStat("obj\0é", 1L << 40, new PgVersion(69, 5), mtime) },
            new OpResult { Pairs = [new("a", [1]), new("", []), new("z", Data(33, 5))], More = true },
            new OpResult { Names = ["x", "", "y\0"], More = false },
            OpResult.Empty,
        ]);
        var back = OpReply.Decode(reply.Encode());
        Assert.Equal(reply.Epoch, back.Epoch);
        Assert.Equal(reply.Version, back.Version);
        Assert.Equal(reply.Results.Count, back.Results.Count);
        for (int i = 0; i < reply.Results.Count; i++)
        {
            var (a, b) = (reply.Results[i], back.Results[i]);
            Assert.Equal(a.Data, b.Data);
            Assert.Equal(a.Stat, b.Stat);
            Assert.Equal(a.Pairs.Select(p => p.Key), b.Pairs.Select(p => p.Key));
            Assert.Equal(a.Pairs.Select(p => p.Value), b.Pairs.Select(p => p.Value));
            Assert.Equal(a.Names, b.Names);
            Assert.Equal(a.More, b.More);
        }
        Assert.Equal(mtime.UtcTicks, back.Results[1].Stat!.MTime.UtcTicks);
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(false, false)]
    public void RepOpRequest_round_trips_every_field(bool withInfo, bool withTrim)
    {
        var op = SampleRepOp(withInfo, withTrim);
        var back = RepOpRequest.Decode(op.Encode());
        Assert.Equal(op.Pg, back.Pg);
        Assert.Equal(op.Epoch, back.Epoch);
        Assert.Equal(op.Entry, back.Entry); // all value fields: record equality is exact
        AssertSameSnaps(op.Snaps, back.Snaps);
        Assert.Equal(op.MTimeTicks, back.MTimeTicks);
        AssertSameOps(op.Ops, back.Ops);
        if (withInfo) AssertSameInfo(op.NewInfo!, back.NewInfo!);
        else Assert.Null(back.NewInfo);
        Assert.Equal(op.TrimBelow, back.TrimBelow);
    }

    [Fact]
    public void RepOpRequest_trim_below_zero_is_not_no_trim()
    {
        var op = SampleRepOp(false, false) with { TrimBelow = PgVersion.Zero };
        Assert.Equal(PgVersion.Zero, RepOpRequest.Decode(op.Encode()).TrimBelow);
    }

    [Fact]
    public void PgInfo_round_trips_every_field()
    {
        foreach (var info in new[]
        {
            PgInfo.Empty,
            new PgInfo(long.MaxValue, [int.MaxValue, 0, 17], new PgVersion(uint.MaxValue, ulong.MaxValue), false),
            new PgInfo(9, [2], new PgVersion(8, 1), true),
        })
        {
            var back = PgInfo.Decode(info.Encode());
            AssertSameInfo(info, back);
        }
        Assert.Throws<FormatException>(() => PgInfo.Decode([.. PgInfo.Empty.Encode(), 1]));
    }

    // ---------------------------------------------------------------- hostile input

    public static TheoryData<string> Samples => new() { "op", "op-no-read-snap", "repop", "repop-bare" };

    private static (byte[] Bytes, Action<byte[]> Decode) Sample(string name) => name switch
    {
        "op" => (SampleOp().Encode(), b => OpRequest.Decode(b)),
        "op-no-read-snap" => (SampleOp(null).Encode(), b => OpRequest.Decode(b)),
        "repop" => (SampleRepOp(true, true).Encode(), b => RepOpRequest.Decode(b)),
        "repop-bare" => (SampleRepOp(false, false).Encode(), b => RepOpRequest.Decode(b)),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void Every_truncation_is_a_format_exception(string sample)
    {
        var (bytes, decode) = Sample(sample);
        decode(bytes); // the whole frame decodes
        for (int n = 0; n < bytes.Length; n++)
        {
            var prefix = bytes[..n];
            var e = Record.Exception(() => decode(prefix));
            Assert.True(e is FormatException, $"prefix of {n}/{bytes.Length} bytes: {(e is null ? "decoded" : e.GetType().Name + ": " + e.Message)}");
        }
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void Random_mutations_decode_or_fail_with_format_exception_only(string sample)
    {
        var (bytes, decode) = Sample(sample);
        var rng = new Random(20250611);
        int refused = 0;
        for (int i = 0; i < 3000; i++)
        {
            var bad = (byte[])bytes.Clone();
            int flips = 1 + rng.Next(3);
            for (int f = 0; f < flips; f++)
            {
                int at = rng.Next(bad.Length);
                bad[at] = rng.Next(4) switch
                {
                    0 => 0xFF,
                    1 => 0x00,
                    2 => 0x7F,
                    _ => (byte)rng.Next(256),
                };
            }
            try
            {
                decode(bad);
            }
            catch (FormatException)
            {
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"mutation {i} ({Convert.ToHexString(bad)}): {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.True(refused > 0, "no mutation was refused: the test mutates nothing that matters");
    }

    /// <summary>An OpRequest header up to (not including) the snap list count.</summary>
    private static WireWriter Header() => new WireWriter().I64(1).U32(0).String("o").I64(1).String("r").U64(0);

    public static TheoryData<string> HugeCounts => new() { "snaps", "ops", "keys", "pairs", "data", "name" };

    [Theory]
    [MemberData(nameof(HugeCounts))]
    public void Count_claiming_more_than_the_bytes_left_is_refused_without_allocating(string field)
    {
        var w = Header();
        const int huge = 0x7FFF_FFF0;
        switch (field)
        {
            case "snaps":
                w.I32(huge);
                break;
            case "ops":
                w.I32(0).Bool(false).U64(0).I32(huge);
                break;
            case "keys":
                w.I32(0).Bool(false).U64(0).I32(1).U8((byte)OpCode.OmapGet).I64(0).I64(0).I32(0).Bool(false).I32(huge);
                break;
            case "pairs":
                w.I32(0).Bool(false).U64(0).I32(1).U8((byte)OpCode.OmapSet).I64(0).I64(0).I32(0).Bool(false).I32(0).I32(huge);
                break;
            case "data":
                w.I32(0).Bool(false).U64(0).I32(1).U8((byte)OpCode.Write).I64(0).I64(0).I32(huge);
                break;
            case "name":
                w = new WireWriter().I64(1).U32(0).I32(huge);
                break;
        }
        var bytes = w.U64(0).U64(0).ToArray(); // some bytes left, far fewer than claimed
        Record.Exception(() => OpRequest.Decode(bytes)); // warm up (JIT) outside the measurement
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Record.Exception(() => OpRequest.Decode(bytes));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.IsType<FormatException>(e);
        Assert.True(allocated < 1 << 20, $"decoding a {bytes.Length}-byte frame allocated {allocated} bytes");
    }

    [Fact]
    public void Negative_count_or_length_is_refused()
    {
        Assert.Throws<FormatException>(() => OpRequest.Decode(Header().I32(-1).ToArray()));
        Assert.Throws<FormatException>(() => OpRequest.Decode(new WireWriter().I64(1).U32(0).I32(-5).U64(0).ToArray()));
    }

    [Fact]
    public void Flag_byte_other_than_zero_or_one_is_refused()
    {
        var bytes = SampleOp().Encode();
        int hasSnapAt = 8 + 4 + (4 + System.Text.Encoding.UTF8.GetByteCount(SampleOp().Object)) + 8 + (4 + "client.4107:99".Length) + 8 + 4 + 3 * 8;
        Assert.Equal(1, bytes[hasSnapAt]);
        bytes[hasSnapAt] = 2;
        Assert.Throws<FormatException>(() => OpRequest.Decode(bytes));
    }
}
