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
    [InlineData(nameof(NbdCommand.BlockStatus), 0, 0, 4096, false, NbdErrno.EINVAL)]
    [InlineData("99", 0, 0, 4096, false, NbdErrno.EINVAL)]
    public void Validate_AnswersPerSpec(string command, ushort flags, ulong offset, uint length, bool readOnly, uint expected)
    {
        var request = new NbdRequest((NbdCommandFlags)flags, Enum.Parse<NbdCommand>(command), 7, offset, length);
        Assert.Equal(expected, NbdRequestCheck.Validate(request, Size, readOnly));
    }

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
