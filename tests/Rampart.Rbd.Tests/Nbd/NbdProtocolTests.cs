using Rampart.Rbd.Nbd;

namespace Rampart.Rbd.Tests.Nbd;

/// <summary>Golden bytes from proto.md's message layouts (and what qemu-nbd sends for the same messages).</summary>
public sealed class NbdProtocolTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    private static byte[] Format(Func<byte[], (bool Ok, int Written)> format, int size)
    {
        var bytes = new byte[size + 8];
        var (ok, written) = format(bytes);
        Assert.True(ok);
        return bytes[..written];
    }

    [Fact]
    public void Greeting_IsNbdmagicIhaveoptAndHandshakeFlags()
    {
        var bytes = Format(b => (new NbdGreeting(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes).TryFormat(b, out int n), n), NbdGreeting.Size);
        Assert.Equal("NBDMAGICIHAVEOPT\0\u0003", System.Text.Encoding.Latin1.GetString(bytes));
        Assert.False(new NbdGreeting().TryFormat(new byte[17], out _));
    }

    [Fact]
    public void Greeting_Oldstyle_IsBadMagic()
    {
        var oldstyle = Hex("4e42444d41474943 0000420281861253 0000");
        Assert.Equal(NbdMalformed.BadMagic, NbdGreeting.TryParse(oldstyle, out _));
    }

    [Theory]
    [InlineData("00000001", "None", 1u)]
    [InlineData("00000003", "None", 3u)]
    [InlineData("00000000", "None", 0u)]
    [InlineData("00000004", "UnknownClientFlags", 0u)]
    [InlineData("80000001", "UnknownClientFlags", 0u)]
    [InlineData("000001", "Truncated", 0u)]
    public void ClientFlags_OnlyOfferedBitsAreAccepted(string hex, string expected, uint flags)
    {
        Assert.Equal(Enum.Parse<NbdMalformed>(expected), NbdClientFlagsCodec.TryParse(Hex(hex), NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes, out var parsed));
        Assert.Equal((NbdClientFlags)flags, parsed);
    }

    [Fact]
    public void ClientFlags_NoZeroesNotOffered_IsRefused()
    {
        Assert.Equal(NbdMalformed.UnknownClientFlags, NbdClientFlagsCodec.TryParse(Hex("00000003"), NbdHandshakeFlags.FixedNewstyle, out _));
    }

    [Fact]
    public void OptionHeader_GoldenBytes_RoundTrip()
    {
        var golden = Hex("49484156454f5054 00000007 0000000a");
        var bytes = Format(b => (new NbdOptionHeader(NbdOption.Go, 10).TryFormat(b, out int n), n), NbdOptionHeader.Size);
        Assert.Equal(golden, bytes);
        Assert.Equal(NbdMalformed.None, NbdOptionHeader.TryParse(golden, out var parsed));
        Assert.Equal(new NbdOptionHeader(NbdOption.Go, 10), parsed);
    }

    [Theory]
    [InlineData("49484156454f5055 00000007 00000000", "BadMagic")]
    [InlineData("49484156454f5054 00000007 00004001", "TooLong")]
    [InlineData("49484156454f5054 00000007 ffffffff", "TooLong")]
    [InlineData("49484156454f5054 00000007 000000", "Truncated")]
    public void OptionHeader_Rejects(string hex, string expected)
    {
        Assert.Equal(Enum.Parse<NbdMalformed>(expected), NbdOptionHeader.TryParse(Hex(hex), out _));
    }

    [Fact]
    public void OptionHeader_AtTheDataCap_IsAccepted()
    {
        Assert.Equal(NbdMalformed.None, NbdOptionHeader.TryParse(Hex("49484156454f5054 00000007 00004000"), out var header));
        Assert.Equal(16384u, header.Length);
    }

    [Fact]
    public void OptionReplyHeader_GoldenBytes_RoundTrip()
    {
        var golden = Hex("0003e889045565a9 00000007 80000006 00000005");
        var bytes = Format(b => (new NbdOptionReplyHeader(NbdOption.Go, NbdReplyType.ErrUnknown, 5).TryFormat(b, out int n), n), NbdOptionReplyHeader.Size);
        Assert.Equal(golden, bytes);
        Assert.Equal(NbdMalformed.None, NbdOptionReplyHeader.TryParse(golden, out var parsed));
        Assert.Equal(new NbdOptionReplyHeader(NbdOption.Go, NbdReplyType.ErrUnknown, 5), parsed);
    }

    [Fact]
    public void InfoRequest_GoldenBytes_RoundTrip()
    {
        // name "abc", two requests: NBD_INFO_BLOCK_SIZE, NBD_INFO_NAME
        var golden = Hex("00000003 616263 0002 0003 0001");
        var parsed = NbdExportInfoRequest.TryParse(golden);
        Assert.NotNull(parsed);
        Assert.Equal("abc", parsed.Name);
        Assert.Equal([NbdInfoType.BlockSize, NbdInfoType.Name], parsed.Requests);
        Assert.Equal(golden, Format(b => (parsed.TryFormat(b, out int n), n), golden.Length));
    }

    [Fact]
    public void InfoRequest_EmptyNameAndNoRequests_IsTheDefaultExport()
    {
        var parsed = NbdExportInfoRequest.TryParse(Hex("00000000 0000"));
        Assert.NotNull(parsed);
        Assert.Equal("", parsed.Name);
        Assert.Empty(parsed.Requests);
    }

    [Theory]
    [InlineData("")]
    [InlineData("000000")]
    [InlineData("00000004 616263 0000")]          // name longer than the data
    [InlineData("00000003 616263")]               // no request count
    [InlineData("00000003 616263 0002 0003")]     // fewer requests than counted
    [InlineData("00000003 616263 0000 00")]       // trailing byte
    [InlineData("00000003 610062 0000")]          // NUL inside the name
    [InlineData("00000002 c328 0000")]            // invalid UTF-8
    [InlineData("ffffffff 616263 0000")]          // absurd name length
    public void InfoRequest_Malformed_IsNull(string hex)
    {
        Assert.Null(NbdExportInfoRequest.TryParse(Hex(hex)));
    }

    [Fact]
    public void OptionReplyPayloads_GoldenBytes()
    {
        Assert.Equal(Hex("00000008 706f6f6c2f696d67"), NbdOptionReplies.Server("pool/img"));
        Assert.Equal(Hex("0000 0000000000100000 016d"), NbdOptionReplies.InfoExport(1 << 20,
            NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.SendFlush | NbdTransmissionFlags.SendFua | NbdTransmissionFlags.SendTrim
            | NbdTransmissionFlags.SendWriteZeroes | NbdTransmissionFlags.CanMultiConn));
        Assert.Equal(Hex("0003 00000001 00001000 02000000"), NbdOptionReplies.InfoBlockSize(1, 4096, 32 << 20));
        Assert.Equal(Hex("0001 61"), NbdOptionReplies.InfoString(NbdInfoType.Name, "a"));
    }

    [Fact]
    public void ExportNameReply_ZeroesOnlyWithoutNoZeroes()
    {
        Assert.Equal(Hex("0000000000001000 0003"), NbdOptionReplies.ExportName(4096, NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.ReadOnly, noZeroes: true));
        var padded = NbdOptionReplies.ExportName(4096, NbdTransmissionFlags.HasFlags, noZeroes: false);
        Assert.Equal(8 + 2 + 124, padded.Length);
        Assert.All(padded[10..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void Request_GoldenBytes_RoundTrip()
    {
        // WRITE with FUA, handle 0x0102030405060708, offset 4096, length 512
        var golden = Hex("25609513 0001 0001 0102030405060708 0000000000001000 00000200");
        var request = new NbdRequest(NbdCommandFlags.Fua, NbdCommand.Write, 0x0102030405060708, 4096, 512);
        Assert.Equal(golden, Format(b => (request.TryFormat(b, out int n), n), NbdRequest.Size));
        Assert.Equal(NbdMalformed.None, NbdRequest.TryParse(golden, out var parsed));
        Assert.Equal(request, parsed);
    }

    [Theory]
    [InlineData("25609514 0000 0000 0000000000000001 0000000000000000 00000200", "BadMagic")]
    [InlineData("67446698 0000 0000 0000000000000001 0000000000000000 00000200", "BadMagic")]
    [InlineData("25609513 0000 0000 0000000000000001 0000000000000000 000002", "Truncated")]
    public void Request_Rejects(string hex, string expected)
    {
        Assert.Equal(Enum.Parse<NbdMalformed>(expected), NbdRequest.TryParse(Hex(hex), out _));
    }

    [Fact]
    public void SimpleReply_GoldenBytes_RoundTrip()
    {
        var golden = Hex("67446698 0000001c 00000000000000ff");
        var reply = new NbdSimpleReply(NbdErrno.ENOSPC, 255);
        Assert.Equal(golden, Format(b => (reply.TryFormat(b, out int n), n), NbdSimpleReply.Size));
        Assert.Equal(NbdMalformed.None, NbdSimpleReply.TryParse(golden, out var parsed));
        Assert.Equal(reply, parsed);
        Assert.False(reply.TryFormat(new byte[15], out _));
    }

    private const long Size = 1 << 20;

    [Theory]
    [InlineData(nameof(NbdCommand.Read), 0, 0, 4096, false, 0u)]
    [InlineData(nameof(NbdCommand.Read), 0, Size - 4096, 4096, false, 0u)]
    [InlineData(nameof(NbdCommand.Read), 0, Size - 4095, 4096, false, NbdErrno.EINVAL)]   // past the end
    [InlineData(nameof(NbdCommand.Read), 0, Size, 1, false, NbdErrno.EINVAL)]
    [InlineData(nameof(NbdCommand.Read), 0, ulong.MaxValue, 1, false, NbdErrno.EINVAL)]   // offset + length overflows
    [InlineData(nameof(NbdCommand.Read), 0, 0, 0, false, NbdErrno.EINVAL)]                // zero length
    [InlineData(nameof(NbdCommand.Read), 0, 0, (32 << 20) + 1, false, NbdErrno.EINVAL)]   // above the 32 MiB maximum
    [InlineData(nameof(NbdCommand.Read), 0, 0, 4096, true, 0u)]                           // reads of a read-only export
    [InlineData(nameof(NbdCommand.Read), 1, 0, 4096, false, 0u)]                          // FUA is accepted on any command
    [InlineData(nameof(NbdCommand.Write), 0, Size - 1, 2, false, NbdErrno.ENOSPC)]        // writes past the end: ENOSPC per spec
    [InlineData(nameof(NbdCommand.Write), 0, 0, 0, false, NbdErrno.EINVAL)]
    [InlineData(nameof(NbdCommand.Write), 0, 0, 4096, true, NbdErrno.EPERM)]
    [InlineData(nameof(NbdCommand.Write), 2, 0, 4096, false, NbdErrno.EINVAL)]            // NO_HOLE belongs to WRITE_ZEROES
    [InlineData(nameof(NbdCommand.Write), 0x20, 0, 4096, false, NbdErrno.EINVAL)]         // undefined flag
    [InlineData(nameof(NbdCommand.WriteZeroes), 3, 0, 4096, false, 0u)]
    [InlineData(nameof(NbdCommand.WriteZeroes), 0, 0, Size, false, 0u)]
    [InlineData(nameof(NbdCommand.WriteZeroes), 0, 4096, Size, false, NbdErrno.ENOSPC)]
    [InlineData(nameof(NbdCommand.WriteZeroes), 0, 0, 4096, true, NbdErrno.EPERM)]
    [InlineData(nameof(NbdCommand.Trim), 0, 0, Size, false, 0u)]
    [InlineData(nameof(NbdCommand.Trim), 0, 4096, Size, false, NbdErrno.EINVAL)]
    [InlineData(nameof(NbdCommand.Trim), 0, 0, 4096, true, NbdErrno.EPERM)]
    [InlineData(nameof(NbdCommand.Trim), 0, 0, 0, false, NbdErrno.EINVAL)]
    [InlineData(nameof(NbdCommand.Flush), 0, 0, 0, false, 0u)]
    [InlineData(nameof(NbdCommand.Flush), 0, 0, 0, true, 0u)]
    [InlineData(nameof(NbdCommand.Cache), 0, 0, 4096, false, NbdErrno.EINVAL)]            // not offered
    [InlineData(nameof(NbdCommand.BlockStatus), 0, 0, 4096, false, NbdErrno.EINVAL)]      // no metadata context selected
    [InlineData("99", 0, 0, 4096, false, NbdErrno.EINVAL)]
    public void Validate_AnswersPerSpec(string command, ushort flags, ulong offset, uint length, bool readOnly, uint expected)
    {
        var request = new NbdRequest((NbdCommandFlags)flags, Enum.Parse<NbdCommand>(command), 7, offset, length);
        Assert.Equal(expected, NbdRequestCheck.Validate(request, Size, readOnly));
    }

    [Theory]
    [InlineData(0, 0, Size, false, 0u)]
    [InlineData(8, 0, 4096, true, 0u)]                     // REQ_ONE, and a read-only export may be asked
    [InlineData(1, 0, 4096, false, NbdErrno.EINVAL)]       // FUA does not belong to BLOCK_STATUS
    [InlineData(0, 0, 0, false, NbdErrno.EINVAL)]
    [InlineData(0, 4096, Size, false, NbdErrno.EINVAL)]    // past the end
    public void Validate_BlockStatus_WithTheAllocationContext(ushort flags, ulong offset, uint length, bool readOnly, uint expected)
    {
        var request = new NbdRequest((NbdCommandFlags)flags, NbdCommand.BlockStatus, 7, offset, length);
        Assert.Equal(expected, NbdRequestCheck.Validate(request, Size, readOnly, blockStatus: true));
    }

    [Fact]
    public void ChunkHeader_GoldenBytes_RoundTrip()
    {
        var header = new NbdChunkHeader(true, NbdChunkType.OffsetData, 0x0102030405060708, 4104);
        var bytes = new byte[NbdChunkHeader.Size];
        Assert.True(header.TryFormat(bytes, out _));
        Assert.Equal("668e33ef" + "0001" + "0001" + "0102030405060708" + "00001008", Convert.ToHexStringLower(bytes));
        Assert.Equal(NbdMalformed.None, NbdChunkHeader.TryParse(bytes, out var parsed));
        Assert.Equal(header, parsed);
        Assert.Equal("668e33ef" + "0001" + "8001" + "0000000000000009" + "00000006" + "00000005" + "0000", Convert.ToHexStringLower(NbdChunks.Error(9, NbdErrno.EIO)));
        Assert.Equal("668e33ef" + "0001" + "0005" + "0000000000000002" + "00000014" + "00000001" + "00001000" + "00000000" + "00002000" + "00000003",
            Convert.ToHexStringLower(NbdChunks.BlockStatus(2, 1, [(4096, NbdBlockState.Data), (8192, NbdBlockState.Hole | NbdBlockState.Zero)])));
    }

    [Fact]
    public void Describe_AlternatesDataAndHoles_ClippedToTheRequest()
    {
        const NbdBlockState hole = NbdBlockState.Hole | NbdBlockState.Zero;
        Assert.Equal([(100u, hole)], NbdMetaContexts.Describe(1000, 100, [], one: false));
        Assert.Equal([(24u, hole), (50u, NbdBlockState.Data), (26u, hole)], NbdMetaContexts.Describe(1000, 100, [(1024, 50)], one: false));
        Assert.Equal([(30u, NbdBlockState.Data), (70u, hole)], NbdMetaContexts.Describe(1000, 100, [(900, 130), (2000, 10)], one: false));
        Assert.Equal([(24u, hole)], NbdMetaContexts.Describe(1000, 100, [(1024, 50)], one: true));
    }

    [Theory]
    [InlineData("00000003" + "6162" + "63" + "00000000", "abc", "")]
    [InlineData("00000000" + "00000002" + "0000000f" + "626173653a616c6c6f636174696f6e" + "00000005" + "626173653a", "", "base:allocation|base:")]
    public void MetaContextRequest_Parses(string hex, string export, string queries)
    {
        var parsed = NbdMetaContexts.TryParse(Convert.FromHexString(hex));
        Assert.NotNull(parsed);
        Assert.Equal(export, parsed.Value.Export);
        Assert.Equal(queries, string.Join('|', parsed.Value.Queries));
    }

    [Theory]
    [InlineData("")]
    [InlineData("00000003" + "6162")]                                   // name cut
    [InlineData("00000000" + "00000001")]                               // a query announced, none there
    [InlineData("00000000" + "00000001" + "00000005" + "6261")]         // query cut
    [InlineData("00000000" + "00000000" + "ff")]                        // bytes left over
    public void MetaContextRequest_Malformed_IsNull(string hex) => Assert.Null(NbdMetaContexts.TryParse(Convert.FromHexString(hex)));

    [Theory]
    [InlineData(true, "", true)]
    [InlineData(true, "base:", true)]
    [InlineData(false, "base:", false)]
    [InlineData(false, "base:allocation", true)]
    [InlineData(false, "qemu:dirty-bitmap:a", false)]
    public void MetaContext_Selection(bool list, string query, bool selected) =>
        Assert.Equal(selected, NbdMetaContexts.Selects(query.Length == 0 ? [] : [query], list));

    [Theory]
    [InlineData(1, 1u)]
    [InlineData(5, 5u)]
    [InlineData(22, 22u)]
    [InlineData(28, 28u)]
    [InlineData(108, 108u)]
    [InlineData(2, 5u)]     // ENOENT is not an NBD error value
    [InlineData(0, 5u)]
    [InlineData(-1, 5u)]
    public void Errno_FromDevice_KeepsOnlyNbdValues(int errno, uint expected)
    {
        Assert.Equal(expected, NbdErrno.FromDevice(errno));
    }
}
